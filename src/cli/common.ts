/** Shared pieces of the CLI: argument parsing, errors, JSON output, progress. Node only. */
import { spawn } from 'node:child_process';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend, type BackendInfo } from '../backend/index.js';
import type { WaveGlow } from '../vocoder/waveglow.js';
import { MAX_ENVELOPE_ITERATIONS } from '../vocoder/envelope.js';
import { envelopeIterationsOf, type ModelConfigFile } from '../vocoder/model-dir.js';

/** An error the user caused (bad flag, missing file): printed without a stack trace. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 2) {
    super(message);
  }
}

export interface Command {
  summary: string;
  /** Returns the process exit code (0 when omitted). */
  run(argv: string[]): Promise<number | void>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Options every command accepts. */
export const COMMON_OPTIONS = {
  json: { type: 'boolean', default: false },
  backend: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies Options;

/** Parses argv strictly; unknown flags become a CliError naming the valid ones. */
export function parse<O extends Options>(argv: string[], options: O, help: string) {
  try {
    const r = parseArgs({ args: argv, options: { ...COMMON_OPTIONS, ...options }, allowPositionals: false, strict: true });
    if ((r.values as { help?: boolean }).help) {
      console.log(help);
      process.exit(0);
    }
    return r.values;
  } catch (e) {
    throw new CliError(`${(e as Error).message}\n${help}`);
  }
}

export function num(value: string | undefined, name: string, fallback: number, { min = -Infinity, max = Infinity, int = false } = {}): number {
  if (value === undefined) return fallback;
  const v = Number(value);
  if (!Number.isFinite(v) || v < min || v > max || (int && !Number.isInteger(v))) {
    throw new CliError(`--${name} must be ${int ? 'an integer' : 'a number'} in [${min}, ${max}], got "${value}"`);
  }
  return v;
}

/**
 * Refuses, before any long work, an output file that cannot be written: its folder is missing or
 * read-only, or the path is a folder. (Otherwise a whole synthesis or evaluation is lost at the end.)
 */
export function checkOutputFile(path: string | undefined, flag: string): void {
  if (path === undefined) return;
  const dir = dirname(resolve(path));
  const isDir = (p: string) => {
    try {
      return statSync(p).isDirectory();
    } catch {
      return null;
    }
  };
  if (isDir(path)) throw new CliError(`--${flag} ${path} is a folder; give a file name`);
  if (isDir(dir) !== true) throw new CliError(`--${flag} ${path}: the folder ${dir} does not exist`);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new CliError(`--${flag} ${path}: the folder ${dir} is not writable`);
  }
}

/** A comma-separated list of numbers, each checked as `num` checks one. */
export function numList(value: string | undefined, name: string, fallback: number[], { min = -Infinity, max = Infinity, int = false } = {}): number[] {
  if (value === undefined) return fallback;
  const v = value.split(',').map((s) => Number(s.trim()));
  if (v.some((x) => !Number.isFinite(x) || x < min || x > max || (int && !Number.isInteger(x)))) {
    throw new CliError(`--${name} must be comma-separated ${int ? 'integers' : 'numbers'} in [${min}, ${max}], got "${value}"`);
  }
  return v;
}

export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Initialises the tfjs backend from --backend / FLOWVOX_BACKEND and tells stderr which runs. */
export async function setupBackend(requested: string | undefined, quiet = false): Promise<BackendInfo> {
  let info: BackendInfo;
  try {
    info = await initBackend(requested);
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  if (!quiet) process.stderr.write(`flowvox: backend ${info.backend} (available: ${info.available.join(', ')})\n`);
  return info;
}

/** With --json, the last stdout line is this object. */
export function printJson(obj: unknown): void {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

/** A one-line progress bar on stderr (only when stderr is a terminal, else a line every ~5 s). */
export class Progress {
  private last = 0;
  private readonly start = Date.now();
  constructor(private readonly total: number, private readonly label = '') {}
  update(done: number, extra = ''): void {
    const now = Date.now();
    const tty = process.stderr.isTTY;
    if (done < this.total && now - this.last < (tty ? 100 : 5000)) return;
    this.last = now;
    const frac = this.total > 0 ? Math.min(1, done / this.total) : 0;
    const width = 24;
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.');
    const secs = (now - this.start) / 1000;
    const eta = frac > 0 ? secs / frac - secs : 0;
    const line = `${this.label}[${bar}] ${done}/${this.total} ${extra} ${secs.toFixed(0)}s elapsed, ~${eta.toFixed(0)}s left`;
    if (tty) process.stderr.write(`\r${line}\x1b[K`);
    else process.stderr.write(line + '\n');
  }
  done(): void {
    if (process.stderr.isTTY) process.stderr.write('\n');
  }
}

/**
 * Runs `flowvox COMMAND ARGS --json` in a fresh Node process (its own tfjs, its own core) and resolves
 * with the JSON object on its last stdout line; rejects with its last stderr line if it fails.
 */
export function runFlowvoxJson<T>(command: string, args: string[]): Promise<T> {
  const bin = fileURLToPath(new URL('../../bin/flowvox.mjs', import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, command, ...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0) return reject(new Error(`${command} ${args.join(' ')} failed (${code}): ${err.trim().split('\n').pop()}`));
      try {
        resolve(JSON.parse(last) as T);
      } catch {
        reject(new Error(`${command} printed no JSON: ${last}`));
      }
    });
  });
}

/** The --envelope flag (iterations of mel-envelope matching), checked; undefined when not given. */
export function envelopeFlag(text: string | undefined): number | undefined {
  return text === undefined ? undefined : num(text, 'envelope', 0, { min: 0, max: MAX_ENVELOPE_ITERATIONS, int: true });
}

/** The --envelope option, else the model's own setting. */
export function envelopeOption(text: string | undefined, config: Pick<ModelConfigFile, 'synthesis'>): number {
  return envelopeFlag(text) ?? envelopeIterationsOf(config);
}

/** Applies a --pitch-emphasis option (the pitch predictor's gain multiplier at synthesis) to a loaded model. */
export function setPitchEmphasisOption(model: WaveGlow, text: string): void {
  const emphasis = num(text, 'pitch-emphasis', 1, { min: 0, max: 100 });
  try {
    model.setPitchEmphasis(emphasis);
  } catch (e) {
    throw new CliError(`--pitch-emphasis: ${(e as Error).message}`);
  }
}

/** Applies a --latent-scale option ("1", or one value per latent level) to a loaded model. */
export function setLatentScaleOption(model: WaveGlow, text: string): void {
  const scale = text.trim() === '1' ? null : numList(text, 'latent-scale', [], { min: 0 });
  try {
    model.setLatentScale(scale);
  } catch (e) {
    throw new CliError(`--latent-scale: ${(e as Error).message}`);
  }
}
