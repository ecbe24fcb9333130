/** `flowvox mel`: its pure part (wavToMel) and one run through command.run with temp files. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { command, wavToMel } from '../src/cli/commands/mel.js';
import { CliError, checkOutputFile } from '../src/cli/common.js';
import { command as synthesize } from '../src/cli/commands/synthesize.js';
import { encodeWav } from '../src/io/wav.js';
import { TACOTRON_MEL, logMelSpectrogram } from '../src/dsp/mel.js';
import { melOf } from '../src/cli/audio-input.js';
import { readNpy, melFromNpy } from '../src/dsp/npy.js';

const SR = 22050;
const signal = Float32Array.from({ length: SR }, (_, i) => 0.3 * Math.sin((2 * Math.PI * 440 * i) / SR) + 0.1 * Math.sin((2 * Math.PI * 3000 * i) / SR));
const dir = mkdtempSync(join(tmpdir(), 'flowvox-mel-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('flowvox mel', () => {
  it('wavToMel writes [80, T] float32 equal to logMelSpectrogram of the decoded audio', () => {
    const wav = encodeWav(signal, SR, { bitDepth: '32f' });
    const r = wavToMel(wav);
    expect(r.sampleRate).toBe(SR);
    expect(r.seconds).toBeCloseTo(1, 6);
    const npy = readNpy(r.npy);
    expect(npy.dtype).toBe('<f4');
    expect(npy.shape).toEqual([80, Math.floor(SR / 256) + 1]);
    const ref = logMelSpectrogram(signal);
    const back = melFromNpy(npy);
    expect(Array.from(back.data)).toEqual(Array.from(ref.data));
    // mel-major layout: element [m, t] at m·T + t
    expect(npy.data[5 * back.frames + 7]).toBe(ref.data[7 * 80 + 5]);
  });

  it('resamples 44.1 kHz input, or rejects it', () => {
    const hi = Float32Array.from({ length: 44100 }, (_, i) => 0.3 * Math.sin((2 * Math.PI * 440 * i) / 44100));
    const wav = encodeWav(hi, 44100);
    const r = wavToMel(wav, 'convert');
    expect(r.sampleRate).toBe(SR);
    expect(r.originalSampleRate).toBe(44100);
    expect(r.mel.frames).toBe(Math.floor(SR / 256) + 1);
    expect(() => wavToMel(wav, 'reject')).toThrow(/44100 Hz.*22050 Hz/);
  });

  it('command.run writes the file and prints JSON last', async () => {
    const inPath = join(dir, 'x.wav');
    const outPath = join(dir, 'x.npy');
    writeFileSync(inPath, encodeWav(signal, SR));
    const lines: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      await command.run(['--in', inPath, '--out', outPath, '--json']);
    } finally {
      spy.mockRestore();
    }
    const json = JSON.parse(lines.join('').trim().split('\n').at(-1)!) as Record<string, unknown>;
    expect(json).toEqual({ frames: 87, nMels: 80, sampleRate: SR, seconds: 1, out: outPath });
    expect(readNpy(readFileSync(outPath)).shape).toEqual([80, 87]);
  });

  it('reports user errors as CliError', async () => {
    await expect(command.run(['--out', join(dir, 'y.npy')])).rejects.toThrow(/--in is required/);
    await expect(command.run(['--in', join(dir, 'missing.wav'), '--out', join(dir, 'y.npy')])).rejects.toBeInstanceOf(CliError);
    writeFileSync(join(dir, 'bad.wav'), 'not a wav');
    await expect(command.run(['--in', join(dir, 'bad.wav'), '--out', join(dir, 'y.npy')])).rejects.toThrow(/bad\.wav: not a WAV file/);
    await expect(command.run(['--in', join(dir, 'x.wav'), '--out', join(dir, 'y.npy'), '--resample', 'maybe'])).rejects.toThrow(/convert or reject/);
  });

  it('says how much audio a mel needs', () => {
    expect(() => melOf(new Float32Array(512), TACOTRON_MEL)).toThrow(/the audio is 23\.2 ms long \(512 samples\); it needs at least 23\.3 ms \(513 samples at 22050 Hz\)/);
    expect(melOf(new Float32Array(513), TACOTRON_MEL).frames).toBe(3);
  });

  it('refuses an output it cannot write before doing the work', async () => {
    expect(() => checkOutputFile(join(dir, 'no-such-folder', 'y.npy'), 'out')).toThrow(/--out .*: the folder .*no-such-folder does not exist/);
    expect(() => checkOutputFile(dir, 'out')).toThrow(/is a folder; give a file name/);
    expect(() => checkOutputFile(join(dir, 'fine.npy'), 'out')).not.toThrow();
    expect(() => checkOutputFile(undefined, 'out')).not.toThrow();
    await expect(command.run(['--in', join(dir, 'x.wav'), '--out', join(dir, 'nope', 'y.npy')])).rejects.toThrow(/folder .*nope does not exist/);
    // synthesize checks --out before it loads the model (which does not exist here either)
    await expect(synthesize.run(['--model', join(dir, 'no-model'), '--wav', join(dir, 'x.wav'), '--out', join(dir, 'nope', 'y.wav')])).rejects.toThrow(/--out .*nope does not exist/);
  });
});
