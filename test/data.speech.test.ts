import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  assignSplit,
  buildCorpus,
  checkSox,
  DEFAULT_THRESHOLDS,
  dropReason,
  encodeWav16,
  findFilletsDialogue,
  fishSpeaker,
  mixToMono,
  parseLangs,
  parseWav16,
  scanAudioDir,
  SpeechDataError,
  type Manifest,
  type SpeechSource,
} from '../src/data/speech.js';

function has(cmd: string): boolean {
  try {
    execFileSync(cmd, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const HAVE_SOX = has('sox');

describe('split', () => {
  const paths = Array.from({ length: 4000 }, (_, i) => `cs/level${i % 37}/line-${i}.wav`);

  it('is a pure function of path and seed, ~90/5/5', () => {
    const a = paths.map((p) => assignSplit(p, undefined, 1, new Set()));
    const b = [...paths].reverse().map((p) => assignSplit(p, undefined, 1, new Set())).reverse();
    expect(b).toEqual(a);
    const frac = (n: string) => a.filter((s) => s === n).length / a.length;
    expect(frac('train')).toBeGreaterThan(0.87);
    expect(frac('train')).toBeLessThan(0.93);
    expect(frac('validation')).toBeGreaterThan(0.03);
    expect(frac('test')).toBeGreaterThan(0.03);
    expect(frac('test-unseen')).toBe(0);
    const c = paths.map((p) => assignSplit(p, undefined, 2, new Set()));
    expect(c).not.toEqual(a);
  });

  it('sends held-out speakers whole to test-unseen', () => {
    const unseen = new Set(['cs/gods/b1']);
    for (const p of paths.slice(0, 200)) {
      expect(assignSplit(p, 'cs/gods/b1', 1, unseen)).toBe('test-unseen');
      expect(assignSplit(p, 'cs/small-fish', 1, unseen)).not.toBe('test-unseen');
    }
  });
});

describe('speaker names', () => {
  it.each([
    ['city', 'vit-m-hlava.ogg', 'cs/small-fish'],
    ['city', 'vit-v-proc.ogg', 'cs/big-fish'],
    ['city', 'vit-hs-klid1.ogg', 'cs/city/hs'],
    ['gods', 'b1-voda1.ogg', 'cs/gods/b1'],
    ['rush', 'm-silou.ogg', 'cs/small-fish'],
    ['fdto', 'proc-v.ogg', 'cs/big-fish'],
    ['barrel', 'bar_v_fotka.ogg', 'cs/big-fish'],
    ['keys', 'rand-0-5-1.ogg', undefined],
    ['electromagnet', 'b-hurt-0.ogg', undefined],
    ['briefcase', 'help3.ogg', undefined],
    ['linux', '1-ahoj.ogg', undefined],
  ])('%s/%s -> %s', (level, name, want) => {
    expect(fishSpeaker(level, name, 'cs')).toBe(want);
  });
});

describe('filters and helpers', () => {
  const src = { channels: 1, sampleRate: 22050, frames: 22050, clipFraction: 0 };
  const ok = { seconds: 1, peak: 0.5, rms: 0.1 };
  it('drops short, clipped and silent files with reasons', () => {
    expect(dropReason(src, ok)).toBeUndefined();
    expect(dropReason(src, { ...ok, seconds: 0.3 })).toMatch(/^too short/);
    expect(dropReason({ ...src, clipFraction: 0.01 }, ok)).toMatch(/^clipped \(1\.00%/);
    expect(dropReason(src, { ...ok, peak: 0.001, rms: 0.0001 })).toMatch(/^silent/);
    expect(dropReason(src, { ...ok, rms: DEFAULT_THRESHOLDS.minRms / 2 })).toMatch(/^silent/);
  });

  it('round-trips WAV and mixes channels', () => {
    const pcm = parseWav16(encodeWav16(Int16Array.from([0, 1000, -32768, 32767]), 22050));
    expect(pcm).toMatchObject({ channels: 1, sampleRate: 22050 });
    expect([...pcm.data]).toEqual([0, 1000, -32768, 32767]);
    expect([...mixToMono({ channels: 2, sampleRate: 22050, data: Int16Array.from([100, 300, -5, -6]) })]).toEqual([200, -5]);
  });

  it('rejects unknown languages', () => {
    expect(parseLangs('nl, cs,nl')).toEqual(['nl', 'cs']);
    expect(() => parseLangs('cs,xx')).toThrow(SpeechDataError);
    expect(() => parseLangs('cs,xx')).toThrow(/unknown language "xx".*cs, nl/);
  });
});

describe.skipIf(!HAVE_SOX)('buildCorpus on generated audio', () => {
  let dir = '';
  let hasOgg = false;
  const sox = (...args: string[]) => execFileSync('sox', ['-V1', '-D', ...args], { stdio: 'pipe' });
  const tone = (file: string, seconds: number, { freq = 440, vol = 0.5, rate = 22050, ch = 1 } = {}) => {
    mkdirSync(dirname(file), { recursive: true });
    sox('-n', '-r', String(rate), '-c', String(ch), '-b', '16', file, 'synth', String(seconds), 'sine', String(freq), 'vol', String(vol));
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flowvox-speech-'));
    hasOgg = await checkSox(true).then(() => true, () => false);
    const a = join(dir, 'audio');
    for (let i = 0; i < 8; i++) tone(join(a, 'lvl', `x-${i % 2 ? 'm' : 'v'}-line${i}.wav`), 1 + i * 0.25, { freq: 200 + 50 * i });
    tone(join(a, 'gods', 'b1-hello.wav'), 1.5);
    // 44.1 kHz stereo, as some of the Czech files are: must come out 22050 Hz mono, same length.
    tone(join(a, 'lvl', `x-m-stereo.${hasOgg ? 'ogg' : 'wav'}`), 2, { rate: 44100, ch: 2 });
    tone(join(a, 'bad', 'silent.wav'), 1, { vol: 0 });
    tone(join(a, 'bad', 'clipped.wav'), 1, { vol: 3 }); // sox clips at full scale
    tone(join(a, 'bad', 'short.wav'), 0.3);
    writeFileSync(join(a, 'bad', 'broken.wav'), 'not audio');
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const sources = async () => scanAudioDir(join(dir, 'audio'), 'xx', (rel) => {
    const [level, name] = rel.split('/') as [string, string];
    return level === 'bad' ? undefined : fishSpeaker(level, name, 'xx');
  });
  const readManifest = (out: string) => JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as Manifest;

  it('filters, splits, writes WAVs and a manifest, then reuses them', async () => {
    const out = join(dir, 'out');
    const src = await sources();
    expect(src).toHaveLength(14);
    const r1 = await buildCorpus({ out, sources: src, seed: 1, unseenSpeakers: ['xx/gods/b1'], sourceInfo: [{ package: 'p', version: '1', licence: 'GPL-2', url: 'Debian' }] });
    expect(r1.decoded).toBe(14);
    const m = readManifest(out);
    expect(m).toEqual(r1.manifest);
    expect(m.sampleRate).toBe(22050);
    expect(m.createdBy).toBe('flowvox data speech');

    const reasons = Object.fromEntries(m.dropped.map((d) => [d.path, d.reason]));
    expect(Object.keys(reasons).sort()).toEqual(['xx/bad/broken.wav', 'xx/bad/clipped.wav', 'xx/bad/short.wav', 'xx/bad/silent.wav']);
    expect(reasons['xx/bad/silent.wav']).toMatch(/^silent/);
    expect(reasons['xx/bad/clipped.wav']).toMatch(/^clipped/);
    expect(reasons['xx/bad/short.wav']).toMatch(/^too short \(0\.30/);
    expect(reasons['xx/bad/broken.wav']).toMatch(/^decode failed/);
    for (const p of Object.keys(reasons)) expect(() => statSync(join(out, p))).toThrow();

    expect(m.files).toHaveLength(10);
    const byPath = Object.fromEntries(m.files.map((f) => [f.path, f]));
    for (let i = 0; i < 8; i++) {
      const f = byPath[`xx/lvl/x-${i % 2 ? 'm' : 'v'}-line${i}.wav`]!;
      expect(f.seconds).toBeCloseTo(1 + i * 0.25, 3);
      expect(f.peak).toBeCloseTo(0.5, 2);
      expect(f.rms).toBeCloseTo(0.5 / Math.SQRT2, 2);
      expect(f.speaker).toBe(i % 2 ? 'xx/small-fish' : 'xx/big-fish');
      expect(f.split).toBe(assignSplit(f.path, f.speaker, 1, new Set(['xx/gods/b1'])));
    }
    expect(byPath['xx/gods/b1-hello.wav']).toMatchObject({ split: 'test-unseen', speaker: 'xx/gods/b1' });
    const st = byPath['xx/lvl/x-m-stereo.wav']!;
    expect(st.seconds).toBeCloseTo(2, 2);
    const wav = parseWav16(readFileSync(join(out, st.path)));
    expect(wav).toMatchObject({ channels: 1, sampleRate: 22050 });
    expect(wav.data.length / 22050).toBeCloseTo(st.seconds, 5);

    const total = m.files.reduce((a, f) => a + f.seconds, 0);
    expect(Object.values(m.splits).reduce((a, s) => a + s.seconds, 0)).toBeCloseTo(total, 2);
    expect(Object.values(m.splits).reduce((a, s) => a + s.files, 0)).toBe(10);
    expect(r1.summary).toMatchObject({ files: 10, dropped: 4, langs: { xx: expect.closeTo(total, 2) } });

    // Second run: nothing decoded, same manifest, WAVs untouched.
    const before = readFileSync(join(out, 'manifest.json'), 'utf8');
    const mtime = statSync(join(out, st.path)).mtimeMs;
    const r2 = await buildCorpus({ out, sources: await sources(), seed: 1, unseenSpeakers: ['xx/gods/b1'], sourceInfo: m.source });
    expect(r2.decoded).toBe(0);
    expect(readFileSync(join(out, 'manifest.json'), 'utf8')).toBe(before);
    expect(statSync(join(out, st.path)).mtimeMs).toBe(mtime);

    // A damaged WAV (wrong size) is decoded again, and only that one.
    truncateSync(join(out, st.path), 1000);
    const r3 = await buildCorpus({ out, sources: await sources(), seed: 1, unseenSpeakers: ['xx/gods/b1'], sourceInfo: m.source });
    expect(r3.decoded).toBe(1);
    expect(readFileSync(join(out, 'manifest.json'), 'utf8')).toBe(before);
    expect(statSync(join(out, st.path)).size).toBe(44 + 2 * wav.data.length);
  });

  it('splits the same way in a fresh directory, whatever the input order', async () => {
    const a = await buildCorpus({ out: join(dir, 'a'), sources: await sources(), seed: 7 });
    const b = await buildCorpus({ out: join(dir, 'b'), sources: (await sources()).reverse(), seed: 7, concurrency: 1 });
    expect(b.manifest.files).toEqual(a.manifest.files);
    const splits = a.manifest.files.map((f) => f.split);
    expect(splits.every((s, i) => s === assignSplit(a.manifest.files[i]!.path, a.manifest.files[i]!.speaker, 7, new Set()))).toBe(true);
  });

  it('finds dialogue in the Fish Fillets package layout and leaves the rest out', async () => {
    const root = join(dir, 'pkg');
    const snd = join(root, 'usr', 'share', 'games', 'fillets-ng', 'sound');
    tone(join(snd, 'city', 'cs', `vit-m-ahoj.${hasOgg ? 'ogg' : 'wav'}`), 0.6);
    tone(join(snd, 'share', 'border', 'cs', 'cil-v-a.wav'), 0.6);
    tone(join(snd, 'city', 'en', 'vit-t-bell.wav'), 0.6);
    mkdirSync(join(root, 'usr', 'share', 'doc', 'x'), { recursive: true });
    writeFileSync(join(root, 'usr', 'share', 'doc', 'x', 'copyright'), 'GPL-2');
    const { sources: s, ignored } = await findFilletsDialogue(root, 'cs');
    // Only .ogg counts as dialogue in the packages.
    const want: SpeechSource[] = hasOgg ? [{ abs: join(snd, 'city', 'cs', 'vit-m-ahoj.ogg'), id: 'cs/city/vit-m-ahoj', lang: 'cs', speaker: 'cs/small-fish' }] : [];
    expect(s).toEqual(want);
    expect(ignored.sort()).toEqual(
      [hasOgg ? '' : 'usr/share/games/fillets-ng/sound/city/cs/vit-m-ahoj.wav', 'usr/share/games/fillets-ng/sound/city/en/vit-t-bell.wav', 'usr/share/games/fillets-ng/sound/share/border/cs/cil-v-a.wav'].filter(Boolean).sort(),
    );
  });
});
