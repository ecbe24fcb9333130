/**
 * Speech corpus for the default voice (Node only).
 *
 * Two stages, kept apart so the second can be tested without network or Debian:
 *  1. `fetchFilletsSpeech`: `apt-get download` + `dpkg-deb -x` of the Fish Fillets NG voice
 *     packages (fillets-ng-data-cs / -nl, GPL-2), then picks the dialogue files out of them.
 *  2. `buildCorpus`: decodes any list of audio files with sox to mono 22050 Hz 16-bit WAV,
 *     drops silent / clipped / too-short ones, splits by file (hash of path + seed) with whole
 *     speakers optionally held out, and writes `manifest.json`.
 * Both stages are idempotent: downloads, unpacked packages and decoded WAVs are reused.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { basename, dirname, extname, join, relative, resolve, sep } from 'node:path';

export const SAMPLE_RATE = 22050;
const LITTLE_ENDIAN = endianness() === 'LE';
export const CREATED_BY = 'flowvox data speech';

/** Voice packages per language; both hold only dialogue (sound effects live in fillets-ng-data). */
export const SPEECH_PACKAGES = {
  cs: 'fillets-ng-data-cs',
  nl: 'fillets-ng-data-nl',
} as const;
export type SpeechLang = keyof typeof SPEECH_PACKAGES;
export const SPEECH_LANGS = Object.keys(SPEECH_PACKAGES) as SpeechLang[];

export const SPLITS = ['train', 'validation', 'test', 'test-unseen'] as const;
export type SplitName = (typeof SPLITS)[number];

/**
 * Characters held out whole for the unseen-speaker test: the two gods of the "gods" level (Czech),
 * ~80 lines, neither fish. Caveat: a voice actor may also play other characters, so "unseen"
 * means unseen character, not guaranteed unseen actor.
 */
export const DEFAULT_UNSEEN_SPEAKERS: readonly string[] = ['cs/gods/b1', 'cs/gods/b2'];

/** An error with a message meant for the user (missing tool, download failure, bad input). */
export class SpeechDataError extends Error {}

export interface Thresholds {
  /** Shorter files are dropped (seconds). */
  minSeconds: number;
  /** Files whose peak is below this (linear, full scale = 1) are silent. */
  minPeak: number;
  /** Files whose RMS is below this are silent. */
  minRms: number;
  /** A sample at or above this magnitude counts as clipped (16-bit full scale is 32767/32768). */
  clipLevel: number;
  /** Files with more than this fraction of clipped samples (in any channel of the source) are dropped. */
  maxClipFraction: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = {
  minSeconds: 0.5,
  minPeak: 10 ** (-40 / 20), // -40 dBFS
  minRms: 10 ** (-60 / 20), // -60 dBFS
  clipLevel: 32767 / 32768,
  maxClipFraction: 1e-3,
};

export interface SourceInfo {
  package: string;
  version: string;
  licence: string;
  url: string;
}

/** One audio file to put into the corpus. */
export interface SpeechSource {
  /** Absolute path of the input file (any format sox reads). */
  abs: string;
  /** Path relative to the corpus directory without extension, e.g. `cs/city/vit-m-hlava`. */
  id: string;
  lang: string;
  speaker?: string;
}

export interface ManifestFile {
  /** Relative to the corpus directory. */
  path: string;
  split: SplitName;
  seconds: number;
  speaker?: string;
  lang: string;
  peak: number;
  rms: number;
}

export interface Manifest {
  source: SourceInfo[];
  sampleRate: number;
  createdBy: string;
  seed: number;
  unseenSpeakers: string[];
  thresholds: Thresholds;
  splits: Record<SplitName, { files: number; seconds: number }>;
  files: ManifestFile[];
  dropped: { path: string; reason: string }[];
}

export interface Summary {
  out: string;
  files: number;
  seconds: number;
  splits: Record<SplitName, number>;
  langs: Record<string, number>;
  dropped: number;
}

// ---------------------------------------------------------------------------------------------
// Pure logic

/** Uniform number in [0, 1) from the path and seed: stable across runs, machines and file order. */
export function hashUnit(key: string, seed: number): number {
  const h = createHash('sha256').update(`${seed}\u0000${key}`).digest();
  return h.readUInt32BE(0) / 2 ** 32;
}

/** Split of one file: held-out speakers go to test-unseen, the rest 90/5/5 by hash of the path. */
export function assignSplit(path: string, speaker: string | undefined, seed: number, unseen: ReadonlySet<string>): SplitName {
  if (speaker !== undefined && unseen.has(speaker)) return 'test-unseen';
  const u = hashUnit(path, seed);
  return u < 0.9 ? 'train' : u < 0.95 ? 'validation' : 'test';
}

/**
 * Speaker of a Fish Fillets dialogue file from its name, or undefined when the name does not say.
 * Names are `<level-prefix>-<char>-<line>` (`vit-m-hlava`), sometimes `<char>-<line>` (`b1-voda1`)
 * or `<line>-<char>` (`proc-m`). `m`/`v` are the small/big fish ("malá"/"velká"), the same actor
 * in every level of one language; any other code is a level-local character, hence `<level>/<code>`.
 * Names with numeric parts only (`rand-0-5-1`, `help3`) come from user levels and are left unknown.
 */
export function fishSpeaker(level: string, fileName: string, lang: string): string | undefined {
  const t = basename(fileName, extname(fileName)).toLowerCase().split(/[-_]/);
  const fish = (c: string | undefined) => (c === 'm' ? 'small-fish' : c === 'v' ? 'big-fish' : undefined);
  let who: string | undefined;
  if (t.length >= 3) {
    const code = t[1]!;
    who = fish(code) ?? (/^[a-z][a-z0-9]*$/.test(code) && code.length <= 3 ? `${level}/${code}` : undefined);
  } else if (t.length === 2) {
    const [a, b] = t as [string, string];
    who = fish(a) ?? fish(b) ?? (/^[a-z][a-z0-9]?\d?$/.test(a) && a.length <= 3 ? `${level}/${a}` : undefined);
  }
  return who === undefined ? undefined : `${lang}/${who}`;
}

export interface SourceStats {
  channels: number;
  sampleRate: number;
  frames: number;
  /** Largest fraction of clipped samples over the channels. */
  clipFraction: number;
}

export interface OutputStats {
  seconds: number;
  peak: number;
  rms: number;
}

/** Why a file should be dropped, or undefined to keep it. */
export function dropReason(src: SourceStats, out: OutputStats, th: Thresholds = DEFAULT_THRESHOLDS): string | undefined {
  const db = (x: number) => (x > 0 ? (20 * Math.log10(x)).toFixed(1) : '-inf');
  if (out.seconds < th.minSeconds) return `too short (${out.seconds.toFixed(3)} s < ${th.minSeconds} s)`;
  if (src.clipFraction > th.maxClipFraction) {
    return `clipped (${(100 * src.clipFraction).toFixed(2)}% of samples at full scale > ${(100 * th.maxClipFraction).toFixed(2)}%)`;
  }
  if (out.peak < th.minPeak || out.rms < th.minRms) return `silent (peak ${db(out.peak)} dBFS, rms ${db(out.rms)} dBFS)`;
  return undefined;
}

/** Interleaved 16-bit samples. */
export interface Pcm16 {
  channels: number;
  sampleRate: number;
  data: Int16Array;
}

/** Parses a 16-bit PCM WAV (as sox writes it; a streamed header may claim more data than there is). */
export function parseWav16(buf: Buffer): Pcm16 {
  if (buf.length < 12 || buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') {
    throw new Error('not a RIFF/WAVE file');
  }
  let pos = 12;
  let channels = 0;
  let sampleRate = 0;
  while (pos + 8 <= buf.length) {
    const id = buf.toString('ascii', pos, pos + 4);
    const size = buf.readUInt32LE(pos + 4);
    const body = pos + 8;
    if (id === 'fmt ') {
      const format = buf.readUInt16LE(body);
      channels = buf.readUInt16LE(body + 2);
      sampleRate = buf.readUInt32LE(body + 4);
      const bits = buf.readUInt16LE(body + 14);
      // 0xfffe = WAVE_FORMAT_EXTENSIBLE; sox uses it for some layouts, still integer PCM here.
      if ((format !== 1 && format !== 0xfffe) || bits !== 16) throw new Error(`expected 16-bit PCM WAV, got format ${format} with ${bits} bits`);
    } else if (id === 'data') {
      if (!channels) throw new Error('WAV data chunk before fmt chunk');
      const end = Math.min(buf.length, body + size);
      const n = Math.floor((end - body) / (2 * channels)) * channels;
      // Copy so the samples are 2-byte aligned whatever the header length.
      const bytes = buf.subarray(body, body + 2 * n);
      const data = LITTLE_ENDIAN ? new Int16Array(Uint8Array.from(bytes).buffer) : Int16Array.from({ length: n }, (_, i) => bytes.readInt16LE(2 * i));
      return { channels, sampleRate, data };
    }
    pos = body + size + (size & 1);
  }
  throw new Error('WAV has no data chunk');
}

export function sourceStats(pcm: Pcm16, clipLevel = DEFAULT_THRESHOLDS.clipLevel): SourceStats {
  const { channels, data } = pcm;
  const frames = data.length / channels;
  const clipped = new Array<number>(channels).fill(0);
  const lim = clipLevel * 32768;
  for (let i = 0; i < data.length; i++) if (Math.abs(data[i]!) >= lim) clipped[i % channels]!++;
  return { channels, sampleRate: pcm.sampleRate, frames, clipFraction: frames ? Math.max(...clipped) / frames : 0 };
}

export function outputStats(pcm: Pcm16): OutputStats {
  const { data } = pcm;
  let peak = 0;
  let sum = 0;
  for (let i = 0; i < data.length; i++) {
    const x = data[i]! / 32768;
    const a = Math.abs(x);
    if (a > peak) peak = a;
    sum += x * x;
  }
  const frames = data.length / pcm.channels;
  return { seconds: frames / pcm.sampleRate, peak, rms: data.length ? Math.sqrt(sum / data.length) : 0 };
}

/** Average of the channels, rounded (what sox's `channels 1` does, without dither). */
export function mixToMono(pcm: Pcm16): Int16Array {
  const { channels, data } = pcm;
  if (channels === 1) return data;
  const n = data.length / channels;
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += data[i * channels + c]!;
    out[i] = Math.round(sum / channels);
  }
  return out;
}

/** A mono 16-bit PCM WAV file (44-byte header). */
export function encodeWav16(samples: Int16Array, sampleRate: number): Buffer {
  const buf = Buffer.alloc(44 + 2 * samples.length);
  buf.write('RIFF', 0, 'ascii');
  buf.writeUInt32LE(36 + 2 * samples.length, 4);
  buf.write('WAVEfmt ', 8, 'ascii');
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20); // PCM
  buf.writeUInt16LE(1, 22); // mono
  buf.writeUInt32LE(sampleRate, 24);
  buf.writeUInt32LE(2 * sampleRate, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36, 'ascii');
  buf.writeUInt32LE(2 * samples.length, 40);
  if (LITTLE_ENDIAN) buf.set(new Uint8Array(samples.buffer, samples.byteOffset, 2 * samples.length), 44);
  else for (let i = 0; i < samples.length; i++) buf.writeInt16LE(samples[i]!, 44 + 2 * i);
  return buf;
}

/** Splits totals in manifest order, seconds rounded to ms. */
export function summarize(files: readonly ManifestFile[]): Record<SplitName, { files: number; seconds: number }> {
  const s = Object.fromEntries(SPLITS.map((n) => [n, { files: 0, seconds: 0 }])) as Record<SplitName, { files: number; seconds: number }>;
  for (const f of files) {
    s[f.split].files++;
    s[f.split].seconds += f.seconds;
  }
  for (const n of SPLITS) s[n].seconds = round3(s[n].seconds);
  return s;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;
const round6 = (x: number) => Math.round(x * 1e6) / 1e6;

// ---------------------------------------------------------------------------------------------
// Processes

interface RunResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** Runs a program; a missing program becomes a SpeechDataError with `installHint`. */
export function runTool(cmd: string, args: readonly string[], installHint: string, opts: { cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) => {
      reject(e.code === 'ENOENT' ? new SpeechDataError(`${cmd} not found. ${installHint}`) : e);
    });
    child.on('close', (code) => resolvePromise({ code: code ?? 1, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

export const SOX_HINT = 'Install it with: apt-get install -y sox libsox-fmt-all';

/** Fails early with install advice when sox (with Ogg Vorbis support) is missing. */
export async function checkSox(needOgg = true): Promise<void> {
  const r = await runTool('sox', ['--version'], SOX_HINT);
  if (r.code !== 0) throw new SpeechDataError(`sox --version failed: ${r.stderr.trim()}. ${SOX_HINT}`);
  if (needOgg) {
    const h = await runTool('sox', ['-h'], SOX_HINT);
    const formats = /AUDIO FILE FORMATS:(.*)/.exec(h.stdout.toString('utf8'))?.[1] ?? '';
    if (!/\bogg\b|\bvorbis\b/.test(formats)) throw new SpeechDataError(`sox cannot read Ogg Vorbis. ${SOX_HINT}`);
  }
}

async function soxDecodeSource(abs: string): Promise<Pcm16> {
  // Native rate and channels, 16 bit: Vorbis decodes to 16-bit ints, so this is exact for clip counts.
  const r = await runTool('sox', ['-V1', '-D', abs, '-t', 'wav', '-e', 'signed-integer', '-b', '16', '-'], SOX_HINT);
  if (r.code !== 0) throw new Error(r.stderr.trim() || `sox exited with ${r.code}`);
  return parseWav16(r.stdout);
}

async function soxConvert(abs: string, dst: string): Promise<void> {
  // -G: lower the gain if resampling would overshoot full scale, rather than clip.
  // -D: no dither, so re-running gives byte-identical files.
  const r = await runTool('sox', ['-V1', '-D', '-G', abs, '-e', 'signed-integer', '-b', '16', '-c', '1', '-r', String(SAMPLE_RATE), '-t', 'wav', dst], SOX_HINT);
  if (r.code !== 0) throw new Error(r.stderr.trim() || `sox exited with ${r.code}`);
}

// ---------------------------------------------------------------------------------------------
// Stage 2: build from audio files

interface CacheEntry {
  srcBytes: number;
  /** `Thresholds.clipLevel` that `src.clipFraction` was counted with. */
  clipLevel?: number;
  /** Size of the decoded WAV, or absent when the file was dropped (no WAV kept). */
  wavBytes?: number;
  src?: SourceStats;
  out?: OutputStats;
  reason?: string;
}
type Cache = Record<string, CacheEntry>;

export interface BuildOptions {
  out: string;
  sources: readonly SpeechSource[];
  sourceInfo?: SourceInfo[];
  seed?: number;
  unseenSpeakers?: readonly string[];
  thresholds?: Thresholds;
  /** Parallel sox processes. */
  concurrency?: number;
  onProgress?: (done: number, total: number, decoded: number) => void;
}

export interface BuildResult {
  manifest: Manifest;
  summary: Summary;
  /** Files decoded in this run (the rest were reused). */
  decoded: number;
}

const CACHE_FILE = join('.cache', 'analysis.json');

/** Decodes, filters and splits `sources` into `out`, writing `out/manifest.json`. */
export async function buildCorpus(opts: BuildOptions): Promise<BuildResult> {
  const out = resolve(opts.out);
  const seed = opts.seed ?? 1;
  const th = opts.thresholds ?? DEFAULT_THRESHOLDS;
  const unseen = new Set(opts.unseenSpeakers ?? []);
  const ids = new Set<string>();
  for (const s of opts.sources) {
    if (ids.has(s.id)) throw new SpeechDataError(`two inputs map to the same corpus path ${s.id}`);
    ids.add(s.id);
  }
  await mkdir(join(out, '.cache'), { recursive: true });
  const cachePath = join(out, CACHE_FILE);
  let cache: Cache = {};
  try {
    cache = JSON.parse(await readFile(cachePath, 'utf8')) as Cache;
  } catch {
    // First run or unreadable cache: everything is decoded again.
  }
  // The cache keeps measurements, not verdicts, so other thresholds apply without re-decoding
  // (except that a file dropped earlier has no WAV and is decoded again if it is now kept).
  const sources = [...opts.sources].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  let done = 0;
  let decoded = 0;
  let next = 0;
  const worker = async () => {
    while (next < sources.length) {
      const s = sources[next++]!;
      const wavRel = `${s.id}.wav`;
      const wavAbs = join(out, ...wavRel.split('/'));
      const srcBytes = (await stat(s.abs)).size;
      const hit = cache[wavRel];
      if (!(hit && hit.srcBytes === srcBytes && (await reusable(hit, wavAbs, th)))) {
        cache[wavRel] = await processOne(s.abs, wavAbs, srcBytes, th.clipLevel);
        decoded++;
      }
      opts.onProgress?.(++done, sources.length, decoded);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 2) }, worker));

  const files: ManifestFile[] = [];
  const dropped: { path: string; reason: string }[] = [];
  for (const s of sources) {
    const path = `${s.id}.wav`;
    const e = cache[path]!;
    const reason = e.reason ?? (e.src && e.out ? dropReason(e.src, e.out, th) : 'not analysed');
    if (reason !== undefined) {
      dropped.push({ path, reason });
      // A WAV kept by a laxer earlier run must not linger next to the manifest.
      if (e.wavBytes !== undefined) {
        await rm(join(out, ...path.split('/')), { force: true });
        delete e.wavBytes;
      }
      continue;
    }
    const o = e.out!;
    const f: ManifestFile = { path, split: assignSplit(path, s.speaker, seed, unseen), seconds: round6(o.seconds), lang: s.lang, peak: round6(o.peak), rms: round6(o.rms) };
    if (s.speaker !== undefined) f.speaker = s.speaker;
    files.push(f);
  }
  await writeJsonAtomic(cachePath, cache);

  const manifest: Manifest = {
    source: opts.sourceInfo ?? [],
    sampleRate: SAMPLE_RATE,
    createdBy: CREATED_BY,
    seed,
    unseenSpeakers: [...unseen].sort(),
    thresholds: th,
    splits: summarize(files),
    files,
    dropped,
  };
  await writeJsonAtomic(join(out, 'manifest.json'), manifest, 1);
  const langs: Record<string, number> = {};
  for (const f of files) langs[f.lang] = round3((langs[f.lang] ?? 0) + f.seconds);
  const summary: Summary = {
    out,
    files: files.length,
    seconds: round3(files.reduce((a, f) => a + f.seconds, 0)),
    splits: Object.fromEntries(SPLITS.map((n) => [n, manifest.splits[n].seconds])) as Record<SplitName, number>,
    langs,
    dropped: dropped.length,
  };
  return { manifest, summary, decoded };
}

/** A cached result stands if its verdict needs no WAV (failed / dropped) or its WAV is intact. */
async function reusable(e: CacheEntry, wavAbs: string, th: Thresholds): Promise<boolean> {
  if (e.reason !== undefined) return true;
  if (e.clipLevel !== th.clipLevel) return false;
  if (e.src && e.out && dropReason(e.src, e.out, th) !== undefined) return true;
  if (e.wavBytes === undefined) return false;
  try {
    return (await stat(wavAbs)).size === e.wavBytes;
  } catch {
    return false;
  }
}

async function processOne(abs: string, wavAbs: string, srcBytes: number, clipLevel: number): Promise<CacheEntry> {
  let src: SourceStats;
  let pcm: Pcm16;
  try {
    pcm = await soxDecodeSource(abs);
    src = sourceStats(pcm, clipLevel);
  } catch (e) {
    return { srcBytes, reason: `decode failed: ${firstLine(e)}` };
  }
  if (src.frames === 0) return { srcBytes, clipLevel, src, out: { seconds: 0, peak: 0, rms: 0 } };
  await mkdir(dirname(wavAbs), { recursive: true });
  // Write under a temporary name so an interrupted run never leaves a plausible partial WAV.
  const tmp = `${wavAbs}.part`;
  try {
    let buf: Buffer;
    if (pcm.sampleRate === SAMPLE_RATE) {
      // Most files need only a channel mix: do it here rather than start sox a second time
      // (sox start-up, loading its format modules, costs more than decoding a short line).
      buf = encodeWav16(mixToMono(pcm), SAMPLE_RATE);
      await writeFile(tmp, buf);
    } else {
      await soxConvert(abs, tmp);
      buf = await readFile(tmp);
    }
    const out = outputStats(parseWav16(buf));
    await rename(tmp, wavAbs);
    return { srcBytes, clipLevel, wavBytes: buf.length, src, out };
  } catch (e) {
    await rm(tmp, { force: true });
    return { srcBytes, reason: `decode failed: ${firstLine(e)}` };
  }
}

const firstLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0]!.trim();

async function writeJsonAtomic(path: string, obj: unknown, indent?: number): Promise<void> {
  const tmp = `${path}.tmp`;
  await writeFile(tmp, JSON.stringify(obj, null, indent) + '\n');
  await rename(tmp, path);
}

/** All audio files under `dir` as sources with ids `<lang>/<relative path without extension>`. */
export async function scanAudioDir(dir: string, lang: string, speakerOf?: (rel: string) => string | undefined): Promise<SpeechSource[]> {
  const exts = new Set(['.ogg', '.oga', '.wav', '.flac', '.mp3']);
  const root = resolve(dir);
  const out: SpeechSource[] = [];
  for (const abs of await walk(root)) {
    if (!exts.has(extname(abs).toLowerCase())) continue;
    const rel = relative(root, abs).split(sep).join('/');
    const s: SpeechSource = { abs, id: `${lang}/${rel.slice(0, -extname(rel).length)}`, lang };
    const who = speakerOf?.(rel);
    if (who !== undefined) s.speaker = who;
    out.push(s);
  }
  return out;
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (e.isFile()) out.push(p);
  }
  return out.sort();
}

// ---------------------------------------------------------------------------------------------
// Stage 1: Debian packages

export const APT_HINT = 'This step needs Debian/Ubuntu tools (apt-get, dpkg-deb). Or put the .deb files into DIR/.cache/deb yourself.';

export interface FetchedPackage {
  lang: SpeechLang;
  info: SourceInfo;
  sources: SpeechSource[];
  /** Files in the package that are not dialogue (kept out of the corpus). */
  ignored: string[];
}

export function parseLangs(list: string): SpeechLang[] {
  const langs = list.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  if (!langs.length) throw new SpeechDataError(`--langs is empty; choose from ${SPEECH_LANGS.join(', ')}`);
  for (const l of langs) {
    if (!(l in SPEECH_PACKAGES)) throw new SpeechDataError(`unknown language "${l}" in --langs; available: ${SPEECH_LANGS.join(', ')}`);
  }
  return [...new Set(langs)] as SpeechLang[];
}

/** Downloads (once) and unpacks (once) the voice package of `lang` under `cacheDir`. */
export async function fetchFilletsSpeech(lang: SpeechLang, cacheDir: string, log: (msg: string) => void = () => {}): Promise<FetchedPackage> {
  const pkg = SPEECH_PACKAGES[lang];
  const debDir = join(cacheDir, 'deb');
  await mkdir(debDir, { recursive: true });
  let deb = await findDeb(debDir, pkg);
  if (!deb) {
    log(`downloading ${pkg} with apt-get`);
    // As root apt drops to the _apt user, which cannot write into this directory.
    const asRoot = process.getuid?.() === 0 ? ['-o', 'APT::Sandbox::User=root'] : [];
    const r = await runTool('apt-get', [...asRoot, 'download', pkg], APT_HINT, { cwd: debDir });
    deb = await findDeb(debDir, pkg);
    if (r.code !== 0 || !deb) {
      const err = r.stderr.trim();
      const hint = /Unable to locate package|has no installation candidate/i.test(err)
        ? 'The package index does not list it: run `apt-get update` (Debian bookworm or later has it in main).'
        : /Failed to fetch|Temporary failure|Could not resolve|Connection|timed out/i.test(err)
          ? 'Download failed: check the network connection / apt proxy, then run again.'
          : '';
      throw new SpeechDataError(`apt-get download ${pkg} failed (exit ${r.code}). ${hint}\n${err}`.trim());
    }
  }
  const f = await runTool('dpkg-deb', ['-f', deb, 'Version'], APT_HINT);
  if (f.code !== 0) throw new SpeechDataError(`cannot read ${deb}: ${f.stderr.trim()} (delete it and run again)`);
  const version = f.stdout.toString('utf8').trim();
  const unpack = join(cacheDir, 'unpack', `${pkg}_${version}`);
  const marker = join(unpack, '.unpacked');
  if (!existsSync(marker)) {
    log(`unpacking ${basename(deb)}`);
    await rm(unpack, { recursive: true, force: true });
    await mkdir(unpack, { recursive: true });
    const x = await runTool('dpkg-deb', ['-x', deb, unpack], APT_HINT);
    if (x.code !== 0) throw new SpeechDataError(`dpkg-deb -x ${deb} failed: ${x.stderr.trim()} (delete it and run again)`);
    await writeFile(marker, '');
  }
  const { sources, ignored } = await findFilletsDialogue(unpack, lang);
  if (!sources.length) throw new SpeechDataError(`no dialogue files found in ${pkg} ${version} (layout changed?)`);
  return { lang, info: { package: pkg, version, licence: 'GPL-2', url: 'Debian' }, sources, ignored };
}

async function findDeb(dir: string, pkg: string): Promise<string | undefined> {
  const names = (await readdir(dir)).filter((n) => n.startsWith(`${pkg}_`) && n.endsWith('.deb')).sort();
  return names.length ? join(dir, names[names.length - 1]!) : undefined;
}

/**
 * Dialogue lives in `.../sound/<level>/<lang>/<name>.ogg`, shared lines in
 * `.../sound/share/<group>/<lang>/` (the game keeps effects and music in another package);
 * anything else found is reported, not used.
 */
export async function findFilletsDialogue(root: string, lang: string): Promise<{ sources: SpeechSource[]; ignored: string[] }> {
  const sources: SpeechSource[] = [];
  const ignored: string[] = [];
  for (const abs of await walk(root)) {
    const parts = relative(root, abs).split(sep);
    const n = parts.length;
    if (parts[0] === 'usr' && parts[1] === 'share' && parts[2] === 'doc') continue;
    if (basename(abs) === '.unpacked') continue;
    const snd = parts.lastIndexOf('sound');
    if (snd >= 0 && n - snd >= 4 && parts[n - 2] === lang && extname(abs).toLowerCase() === '.ogg') {
      const level = parts.slice(snd + 1, n - 2).join('/');
      const name = parts[n - 1]!;
      const s: SpeechSource = { abs, id: `${lang}/${level}/${name.slice(0, -4)}`, lang };
      const who = fishSpeaker(level, name, lang);
      if (who !== undefined) s.speaker = who;
      sources.push(s);
    } else {
      ignored.push(parts.join('/'));
    }
  }
  return { sources, ignored };
}

export interface SpeechOptions {
  out: string;
  langs?: readonly SpeechLang[];
  seed?: number;
  unseenSpeakers?: readonly string[];
  concurrency?: number;
  log?: (msg: string) => void;
  onProgress?: BuildOptions['onProgress'];
}

/** The whole pipeline: fetch the packages, then build the corpus from their dialogue files. */
export async function buildSpeechCorpus(opts: SpeechOptions): Promise<BuildResult & { ignored: string[] }> {
  await checkSox(true);
  const out = resolve(opts.out);
  const cache = join(out, '.cache');
  const fetched: FetchedPackage[] = [];
  for (const lang of opts.langs ?? SPEECH_LANGS) fetched.push(await fetchFilletsSpeech(lang, cache, opts.log));
  const ignored = fetched.flatMap((f) => f.ignored);
  const r = await buildCorpus({
    out,
    sources: fetched.flatMap((f) => f.sources),
    sourceInfo: fetched.map((f) => f.info),
    seed: opts.seed,
    unseenSpeakers: opts.unseenSpeakers ?? DEFAULT_UNSEEN_SPEAKERS,
    concurrency: opts.concurrency,
    onProgress: opts.onProgress,
  });
  return { ...r, ignored };
}
