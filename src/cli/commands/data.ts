import { availableParallelism } from 'node:os';
import { CliError, num, parse, printJson, Progress, type Command } from '../common.js';
import { buildSpeechCorpus, DEFAULT_UNSEEN_SPEAKERS, parseLangs, SPEECH_LANGS, SPLITS, SpeechDataError } from '../../data/speech.js';

const HELP = `flowvox data speech [--out DIR] [--langs ${SPEECH_LANGS.join(',')}] [--seed 1] [--unseen LIST] [--jobs 2] [--json]
  Builds the speech corpus for the default voice from the Fish Fillets NG voice packages
  (Debian fillets-ng-data-cs / -nl, GPL-2: acted game dialogue). Downloads them with
  apt-get download into DIR/.cache, decodes the dialogue with sox to mono ${22050} Hz 16-bit WAV,
  drops silent, clipped and too-short files, splits train/validation/test 90/5/5 by file
  (hash of path + seed) and writes DIR/manifest.json. Re-running reuses finished work.
  --out DIR      corpus directory (default data/speech)
  --langs LIST   languages to include (default ${SPEECH_LANGS.join(',')})
  --seed N       seed of the split (default 1)
  --unseen LIST  speakers held out whole as test-unseen, or "none" (default ${DEFAULT_UNSEEN_SPEAKERS.join(',')})
  --jobs N       sox processes at once (default 2)
  Needs: apt-get and dpkg-deb (Debian/Ubuntu), sox with Ogg support (apt-get install -y sox libsox-fmt-all).`;

export const command: Command = {
  summary: 'build the speech training corpus (data speech --out DIR)',
  async run(argv) {
    const [what, ...rest] = argv;
    if (what === undefined || what === '--help' || what === '-h') {
      console.log(HELP);
      return what === undefined ? 2 : 0;
    }
    if (what !== 'speech') throw new CliError(`unknown data set "${what}"; available: speech\n${HELP}`);
    const opts = parse(
      rest,
      {
        out: { type: 'string', default: 'data/speech' },
        langs: { type: 'string', default: SPEECH_LANGS.join(',') },
        seed: { type: 'string' },
        unseen: { type: 'string' },
        jobs: { type: 'string' },
      },
      HELP,
    );
    const seed = num(opts.seed, 'seed', 1, { int: true, min: 0, max: 2 ** 31 - 1 });
    const jobs = num(opts.jobs, 'jobs', Math.min(2, availableParallelism()), { int: true, min: 1, max: 64 });
    const unseen = opts.unseen === undefined ? undefined : opts.unseen === 'none' ? [] : opts.unseen.split(',').map((s) => s.trim()).filter(Boolean);
    const t0 = Date.now();
    let progress: Progress | undefined;
    try {
      const langs = parseLangs(opts.langs);
      const r = await buildSpeechCorpus({
        out: opts.out,
        langs,
        seed,
        unseenSpeakers: unseen,
        concurrency: jobs,
        log: (m) => process.stderr.write(`flowvox data: ${m}\n`),
        onProgress: (done, total, decoded) => {
          progress ??= new Progress(total, 'decode ');
          progress.update(done, `(${decoded} decoded)`);
        },
      });
      progress?.done();
      if (r.ignored.length) process.stderr.write(`flowvox data: left out ${r.ignored.length} package files that are not dialogue (e.g. ${r.ignored[0]})\n`);
      const { summary: s, manifest: m } = r;
      const known = new Set(m.files.map((f) => f.speaker));
      const missing = m.unseenSpeakers.filter((u) => !known.has(u));
      if (missing.length) process.stderr.write(`flowvox data: warning: held-out speakers not in the corpus: ${missing.join(', ')}\n`);
      if (opts.json) {
        printJson(s);
      } else {
        const min = (x: number) => `${(x / 60).toFixed(1)} min`;
        console.log(`${s.out}/manifest.json: ${s.files} files, ${min(s.seconds)} (${r.decoded} decoded now, ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
        for (const n of SPLITS) console.log(`  ${n.padEnd(12)} ${String(m.splits[n].files).padStart(5)} files ${min(m.splits[n].seconds).padStart(10)}`);
        for (const [l, sec] of Object.entries(s.langs)) console.log(`  lang ${l.padEnd(7)} ${min(sec).padStart(22)}`);
        console.log(`  dropped ${s.dropped}${s.dropped ? ' (reasons in manifest.json "dropped")' : ''}`);
        if (m.unseenSpeakers.length) console.log(`  test-unseen speakers: ${m.unseenSpeakers.join(', ')}`);
      }
    } catch (e) {
      progress?.done();
      if (e instanceof SpeechDataError) throw new CliError(e.message, 1);
      throw e;
    }
  },
};
