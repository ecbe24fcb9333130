/** WAV decode/encode, cross-checked against wavefile (an independent implementation), and resampling. */
import { describe, expect, it } from 'vitest';
import wavefile from 'wavefile';
import { decodeWav, encodeWav, type WavBitDepth } from '../src/io/wav.js';
import { resample } from '../src/dsp/resample.js';

const { WaveFile } = wavefile;

function tone(freq: number, rate: number, n: number, amp = 0.5, phase = 0): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => amp * Math.sin((2 * Math.PI * freq * i) / rate + phase));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>, from = 0, to = Math.min(a.length, b.length)): number {
  let m = 0;
  for (let i = from; i < to; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** A test signal covering the full range, including exact ±1 on the integer grid. */
const SIGNAL = Float32Array.from({ length: 1000 }, (_, i) => (i === 0 ? -1 : i === 1 ? 0.999 : 0.9 * Math.sin(i * 0.37) * Math.cos(i * 0.011)));

describe('encodeWav / decodeWav round trips', () => {
  const cases: [WavBitDepth, number, number][] = [
    ['8', 8, 0.5 / 128],
    ['16', 16, 0.5 / 32768],
    ['24', 24, 0.5 / 8388608],
    ['32', 32, 0.5 / 2147483648],
    ['32f', 32, 0],
    ['64f', 64, 0],
  ];
  for (const [depth, bits, halfStep] of cases) {
    it(`${depth}: exact on the ${bits}-bit grid`, () => {
      const bytes = encodeWav(SIGNAL, 22050, { bitDepth: depth });
      const d = decodeWav(bytes);
      expect(d.sampleRate).toBe(22050);
      expect(d.channels).toBe(1);
      expect(d.bitDepth).toBe(bits);
      expect(d.samples.length).toBe(SIGNAL.length);
      // Integer formats: round(x·2^(b−1)) clipped to [−2^(b−1), 2^(b−1) − 1], read back /2^(b−1).
      const full = 2 ** (bits - 1);
      const expected = depth.endsWith('f') ? SIGNAL : SIGNAL.map((v) => Math.max(-full, Math.min(full - 1, Math.round(v * full))) / full);
      expect(maxAbsDiff(d.samples, expected)).toBeLessThanOrEqual(bits >= 24 ? 6e-8 : 0); // float32 output rounding
      // Off the top of the range (0.999 here) only clipping exceeds half a step.
      expect(maxAbsDiff(d.samples, SIGNAL, 2)).toBeLessThanOrEqual(halfStep + (bits >= 24 ? 6e-8 : 0));
      // An independent reader agrees on the header and the stored integers/floats.
      const wf = new WaveFile(bytes);
      const fmt = wf.fmt as { numChannels: number; sampleRate: number; bitsPerSample: number; audioFormat: number };
      expect(fmt).toMatchObject({ numChannels: 1, sampleRate: 22050, bitsPerSample: bits, audioFormat: depth.endsWith('f') ? 3 : 1 });
      const raw = wf.getSamples(false, Float64Array) as unknown as Float64Array;
      const scale = depth.endsWith('f') ? 1 : bits === 8 ? 1 / 128 : 2 ** -(bits - 1);
      const offset = bits === 8 ? -128 : 0;
      expect(maxAbsDiff(Array.from(raw, (v) => (v + offset) * scale), d.samples)).toBeLessThan(1e-7);
    });
  }

  it('16-bit clips to [-1, 1] and keeps -1 exactly', () => {
    const d = decodeWav(encodeWav(new Float32Array([1.5, -2, -1, 1, 0.5]), 16000));
    expect(Array.from(d.samples)).toEqual([32767 / 32768, -1, -1, 32767 / 32768, 0.5]);
  });

  it('rejects NaN samples when encoding', () => {
    expect(() => encodeWav(new Float32Array([0, Number.NaN]), 16000)).toThrow(/NaN at sample 1/);
  });
});

describe('decodeWav of files written by wavefile', () => {
  const n = 500;
  const x = tone(440, 16000, n, 0.7);
  for (const [code, bits, tol] of [
    ['8', 8, 0.5 / 128],
    ['16', 16, 0.5 / 32768],
    ['24', 24, 0.5 / 8388608 + 6e-8],
    ['32', 32, 1e-7],
    ['32f', 32, 1e-7],
    ['64', 64, 1e-7],
  ] as const) {
    it(`reads ${code}`, () => {
      const wf = new WaveFile();
      const full = 2 ** (bits - 1);
      const ints = code === '8' ? Array.from(x, (v) => Math.round(v * 128) + 128) : code === '32f' || code === '64' ? Array.from(x) : Array.from(x, (v) => Math.round(v * full));
      wf.fromScratch(1, 16000, code, ints);
      const d = decodeWav(wf.toBuffer());
      expect(d.bitDepth).toBe(bits);
      expect(d.encoding).toBe(code === '32f' || code === '64' ? 'float' : 'pcm');
      expect(maxAbsDiff(d.samples, x)).toBeLessThanOrEqual(tol);
    });
  }

  it('averages stereo to mono', () => {
    const l = tone(300, 16000, n, 0.8);
    const r = tone(700, 16000, n, 0.4);
    const wf = new WaveFile();
    wf.fromScratch(2, 16000, '32f', [Array.from(l), Array.from(r)]);
    const d = decodeWav(wf.toBuffer());
    expect(d.channels).toBe(2);
    expect(d.samples.length).toBe(n);
    expect(maxAbsDiff(d.samples, l.map((v, i) => (v + r[i]!) / 2))).toBeLessThan(1e-7);
    // 16-bit stereo with opposite channels cancels.
    const wf16 = new WaveFile();
    const ints = Array.from(l, (v) => Math.round(v * 30000));
    wf16.fromScratch(2, 16000, '16', [ints, ints.map((v) => -v)]);
    expect(maxAbsDiff(decodeWav(wf16.toBuffer()).samples, new Float32Array(n))).toBe(0);
  });

  it('decodes A-law and µ-law like wavefile does', () => {
    for (const law of ['alaw', 'mulaw'] as const) {
      const wf = new WaveFile();
      wf.fromScratch(1, 8000, '16', Array.from(x, (v) => Math.round(v * 32767)));
      if (law === 'alaw') wf.toALaw();
      else wf.toMuLaw();
      const bytes = wf.toBuffer();
      const d = decodeWav(bytes);
      expect(d.encoding).toBe(law);
      const ref = new WaveFile(bytes);
      if (law === 'alaw') ref.fromALaw();
      else ref.fromMuLaw();
      const pcm = Array.from(ref.getSamples(false, Float64Array) as unknown as Float64Array, (v) => v / 32768);
      expect(maxAbsDiff(d.samples, pcm)).toBeLessThan(1e-7);
      expect(maxAbsDiff(d.samples, x)).toBeLessThan(0.02); // companding error
    }
  });
});

describe('resampling', () => {
  it('44100 → 22050 keeps a 1 kHz tone clean', () => {
    const d = decodeWav(encodeWav(tone(1000, 44100, 44100), 44100, { bitDepth: '32f' }), { targetRate: 22050 });
    expect(d.sampleRate).toBe(22050);
    expect(d.originalSampleRate).toBe(44100);
    expect(d.samples.length).toBe(22050);
    const ideal = tone(1000, 22050, 22050);
    // Away from the edges (the kernel sees zeros beyond the signal there).
    const err = maxAbsDiff(d.samples, ideal, 500, 21550);
    expect(err).toBeLessThan(1e-4); // −74 dB re the 0.5 amplitude
  });

  it('removes content above the new Nyquist (no aliasing)', () => {
    const y = resample(tone(15000, 44100, 44100), 44100, 22050);
    let rms = 0;
    for (let i = 500; i < 21550; i++) rms += y[i]! * y[i]!;
    rms = Math.sqrt(rms / 21050);
    expect(rms).toBeLessThan(0.5 * 1e-4); // > 80 dB down (an aliased tone would sit at 7050 Hz)
  });

  it('handles non-integer ratios (48000 → 22050) and upsampling', () => {
    const y = resample(tone(440, 48000, 48000, 0.5, 0.3), 48000, 22050);
    expect(y.length).toBe(22050);
    expect(maxAbsDiff(y, tone(440, 22050, 22050, 0.5, 0.3), 500, 21550)).toBeLessThan(1e-4);
    const up = resample(tone(1000, 16000, 16000), 16000, 22050);
    expect(maxAbsDiff(up, tone(1000, 22050, 22050), 500, 21550)).toBeLessThan(1e-4);
  });

  it("'reject' names both rates; same rate passes through", () => {
    const bytes = encodeWav(tone(1000, 44100, 4410), 44100);
    expect(() => decodeWav(bytes, { targetRate: 22050, resample: 'reject' })).toThrow(/44100 Hz.*22050 Hz/);
    const same = decodeWav(encodeWav(tone(1000, 22050, 2205), 22050), { targetRate: 22050, resample: 'reject' });
    expect(same.samples.length).toBe(2205);
  });
});

describe('corrupt input', () => {
  const good = encodeWav(tone(440, 16000, 1000), 16000);

  it('gives clear errors', () => {
    expect(() => decodeWav(new Uint8Array(0))).toThrow(/not a WAV file: only 0 bytes/);
    expect(() => decodeWav(new TextEncoder().encode('hello, this is not audio at all'))).toThrow(/not a WAV file: starts with "hell"/);
    expect(() => decodeWav(Uint8Array.from({ length: 100 }, (_, i) => (i * 37) & 0xff))).toThrow(/not a WAV file/);
    expect(() => decodeWav(good.subarray(0, good.length - 10))).toThrow(/truncated WAV: "data" chunk declares 2000 bytes, only 1990 present/);
    expect(() => decodeWav(good.subarray(0, 30))).toThrow(/truncated WAV: "fmt " chunk/);
    expect(() => decodeWav(good.subarray(0, 36))).toThrow(/no "data" chunk/);
    const noFmt = good.slice();
    noFmt.set([0x4a, 0x55, 0x4e, 0x4b], 12); // rename "fmt " → "JUNK"
    expect(() => decodeWav(noFmt)).toThrow(/"data" chunk before "fmt "|no "fmt "/);
    const adpcm = good.slice();
    adpcm[20] = 0x11; // format tag → IMA ADPCM
    expect(() => decodeWav(adpcm)).toThrow(/unsupported WAV encoding: IMA ADPCM/);
    const badAlign = good.slice();
    badAlign[32] = 3;
    expect(() => decodeWav(badAlign)).toThrow(/block align 3/);
    const rifx = good.slice();
    rifx.set([0x52, 0x49, 0x46, 0x58], 0);
    expect(() => decodeWav(rifx)).toThrow(/RIFX/);
    const nanFloat = encodeWav(new Float32Array([0, 0.5, 0]), 16000, { bitDepth: '32f' });
    new DataView(nanFloat.buffer).setFloat32(nanFloat.length - 8, Number.NaN, true);
    expect(() => decodeWav(nanFloat)).toThrow(/NaN at frame 1/);
  });

  it('reads a streaming WAV whose data size was never filled in', () => {
    const s = good.slice();
    new DataView(s.buffer).setUint32(40, 0xffffffff, true);
    expect(decodeWav(s).samples.length).toBe(1000);
  });
});
