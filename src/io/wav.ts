/**
 * WAV decoding/encoding on Uint8Array (no fs, so it also runs in the browser).
 *
 * A small RIFF reader of our own rather than wavefile's: it validates every size field, so truncated
 * or corrupt files give an error naming what is wrong instead of a RangeError or silent garbage, and
 * it avoids wavefile's CJS/ESM dual-package import differences between Node and bundlers.
 * Handles PCM 8/16/24/32-bit, IEEE float 32/64-bit, G.711 A-law/µ-law, WAVE_FORMAT_EXTENSIBLE.
 */
import { resample } from '../dsp/resample.js';

export interface DecodeWavOptions {
  /** Sample rate the caller needs (e.g. 22050). Omitted: keep the file's rate. */
  targetRate?: number;
  /** What to do when the file's rate differs from targetRate (default 'convert'). */
  resample?: 'convert' | 'reject';
}

export interface DecodedWav {
  /** Mono samples (channels averaged); integer formats lie in [−1, 1), float files are not clipped. */
  samples: Float32Array;
  /** Rate of `samples` (targetRate after conversion). */
  sampleRate: number;
  /** Channel count in the file. */
  channels: number;
  /** Bits per sample in the file. */
  bitDepth: number;
  /** Rate in the file. */
  originalSampleRate: number;
  /** 'pcm' | 'float' | 'alaw' | 'mulaw' */
  encoding: WavEncoding;
}

export type WavEncoding = 'pcm' | 'float' | 'alaw' | 'mulaw';

const FORMAT_NAMES: Record<number, string> = {
  0x0002: 'Microsoft ADPCM',
  0x0011: 'IMA ADPCM',
  0x0050: 'MPEG',
  0x0055: 'MP3',
  0x0161: 'WMA',
};

function fourcc(b: Uint8Array, at: number): string {
  return String.fromCharCode(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!);
}

function printable(s: string): string {
  return /^[\x20-\x7e]{4}$/.test(s) ? `"${s}"` : 'binary data';
}

/** G.711 A-law byte → linear value in [−1, 1). */
function alaw(byte: number): number {
  const a = byte ^ 0x55;
  const seg = (a & 0x70) >> 4;
  let t = (a & 0x0f) << 4;
  t = seg === 0 ? t + 8 : ((t + 0x108) << (seg - 1));
  return ((a & 0x80) ? t : -t) / 32768;
}

/** G.711 µ-law byte → linear value in [−1, 1). */
function mulaw(byte: number): number {
  const u = ~byte & 0xff;
  let t = ((u & 0x0f) << 3) + 0x84;
  t <<= (u & 0x70) >> 4;
  return ((u & 0x80) ? 0x84 - t : t - 0x84) / 32768;
}

interface Fmt {
  encoding: WavEncoding;
  channels: number;
  sampleRate: number;
  blockAlign: number;
  bitsPerSample: number;
}

function parseFmt(dv: DataView, at: number, size: number): Fmt {
  if (size < 16) throw new Error(`corrupt WAV: "fmt " chunk is ${size} bytes, needs at least 16`);
  let tag = dv.getUint16(at, true);
  const channels = dv.getUint16(at + 2, true);
  const sampleRate = dv.getUint32(at + 4, true);
  const blockAlign = dv.getUint16(at + 12, true);
  const bitsPerSample = dv.getUint16(at + 14, true);
  if (tag === 0xfffe) {
    // WAVE_FORMAT_EXTENSIBLE: the real format is the first two bytes of the SubFormat GUID.
    if (size < 40) throw new Error(`corrupt WAV: extensible "fmt " chunk is ${size} bytes, needs 40`);
    tag = dv.getUint16(at + 24, true);
  }
  let encoding: WavEncoding;
  if (tag === 1) encoding = 'pcm';
  else if (tag === 3) encoding = 'float';
  else if (tag === 6) encoding = 'alaw';
  else if (tag === 7) encoding = 'mulaw';
  else {
    const name = FORMAT_NAMES[tag] ?? `format tag 0x${tag.toString(16).padStart(4, '0')}`;
    throw new Error(`unsupported WAV encoding: ${name}; convert to PCM or float (e.g. ffmpeg -i in.wav -c:a pcm_s16le out.wav)`);
  }
  if (channels < 1) throw new Error('corrupt WAV: 0 channels');
  if (sampleRate < 1) throw new Error('corrupt WAV: sample rate 0');
  const ok =
    (encoding === 'pcm' && [8, 16, 24, 32].includes(bitsPerSample)) ||
    (encoding === 'float' && (bitsPerSample === 32 || bitsPerSample === 64)) ||
    ((encoding === 'alaw' || encoding === 'mulaw') && bitsPerSample === 8);
  if (!ok) throw new Error(`unsupported WAV sample format: ${bitsPerSample}-bit ${encoding}`);
  const expectAlign = (channels * bitsPerSample) / 8;
  if (blockAlign !== expectAlign) {
    throw new Error(`corrupt WAV: block align ${blockAlign} does not match ${channels} channel(s) × ${bitsPerSample} bits`);
  }
  return { encoding, channels, sampleRate, blockAlign, bitsPerSample };
}

function decodeFrames(dv: DataView, start: number, frames: number, fmt: Fmt): Float32Array {
  const { channels, blockAlign, bitsPerSample, encoding } = fmt;
  const out = new Float32Array(frames);
  const bps = bitsPerSample / 8;
  const inv = 1 / channels;
  for (let f = 0; f < frames; f++) {
    let acc = 0;
    const base = start + f * blockAlign;
    for (let c = 0; c < channels; c++) {
      const p = base + c * bps;
      let v: number;
      if (encoding === 'pcm') {
        if (bps === 2) v = dv.getInt16(p, true) / 32768;
        else if (bps === 3) {
          const u = dv.getUint8(p) | (dv.getUint8(p + 1) << 8) | (dv.getUint8(p + 2) << 16);
          v = ((u << 8) >> 8) / 8388608; // sign-extend 24 → 32 bits
        } else if (bps === 1) v = (dv.getUint8(p) - 128) / 128; // 8-bit WAV is unsigned
        else v = dv.getInt32(p, true) / 2147483648;
      } else if (encoding === 'float') {
        v = bps === 4 ? dv.getFloat32(p, true) : dv.getFloat64(p, true);
        if (!Number.isFinite(v)) throw new Error(`float WAV contains ${v} at frame ${f}, channel ${c}`);
      } else if (encoding === 'alaw') v = alaw(dv.getUint8(p));
      else v = mulaw(dv.getUint8(p));
      acc += v;
    }
    out[f] = acc * inv;
  }
  return out;
}

/**
 * Decodes a WAV file to mono Float32 (channels averaged). With `targetRate`, a file at another rate
 * is resampled (band-limited windowed sinc) or, with resample: 'reject', refused with an error
 * naming both rates. Truncated, corrupt or non-WAV input throws an Error saying what is wrong.
 */
export function decodeWav(bytes: Uint8Array, options: DecodeWavOptions = {}): DecodedWav {
  if (!(bytes instanceof Uint8Array)) throw new Error('decodeWav expects a Uint8Array');
  if (bytes.length < 12) throw new Error(`not a WAV file: only ${bytes.length} bytes`);
  const riff = fourcc(bytes, 0);
  if (riff === 'RIFX') throw new Error('big-endian WAV (RIFX) is not supported');
  if (riff === 'RF64') throw new Error('RF64 WAV (over 4 GiB) is not supported');
  if (riff !== 'RIFF' || fourcc(bytes, 8) !== 'WAVE') {
    throw new Error(`not a WAV file: starts with ${printable(riff)}, expected "RIFF....WAVE"`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let fmt: Fmt | undefined;
  let dataStart = -1;
  let dataSize = 0;
  let pos = 12;
  while (pos + 8 <= bytes.length) {
    const id = fourcc(bytes, pos);
    const size = dv.getUint32(pos + 4, true);
    const body = pos + 8;
    const avail = bytes.length - body;
    if (id === 'fmt ') {
      if (size > avail) throw new Error(`truncated WAV: "fmt " chunk declares ${size} bytes, ${avail} present`);
      fmt = parseFmt(dv, body, size);
    } else if (id === 'data') {
      if (!fmt) throw new Error('corrupt WAV: "data" chunk before "fmt " chunk');
      if (size === 0xffffffff || (size === 0 && avail > 0)) {
        // Streaming writers leave the size unset: the data runs to the end of the file.
        dataSize = avail - (avail % fmt.blockAlign);
      } else if (size > avail) {
        throw new Error(`truncated WAV: "data" chunk declares ${size} bytes, only ${avail} present`);
      } else {
        dataSize = size;
      }
      dataStart = body;
      break;
    } else if (size > avail) {
      // A truncated trailing chunk we do not need would be harmless, but this one precedes "data".
      throw new Error(`truncated or corrupt WAV: ${printable(id)} chunk declares ${size} bytes, ${avail} present`);
    }
    pos = body + size + (size & 1); // chunks are word-aligned
  }
  if (!fmt) throw new Error('corrupt WAV: no "fmt " chunk');
  if (dataStart < 0) throw new Error('corrupt or truncated WAV: no "data" chunk');
  if (dataSize % fmt.blockAlign !== 0) {
    throw new Error(`corrupt WAV: "data" size ${dataSize} is not a multiple of the ${fmt.blockAlign}-byte sample frame`);
  }
  const frames = dataSize / fmt.blockAlign;
  if (frames === 0) throw new Error('WAV file has no audio samples');
  let samples = decodeFrames(dv, dataStart, frames, fmt);
  let sampleRate = fmt.sampleRate;
  const target = options.targetRate;
  if (target !== undefined && target !== sampleRate) {
    if (!(target > 0) || !Number.isFinite(target)) throw new Error(`targetRate must be a positive number, got ${target}`);
    if ((options.resample ?? 'convert') === 'reject') {
      throw new Error(`WAV sample rate is ${sampleRate} Hz but ${target} Hz is required (resampling disabled)`);
    }
    samples = resample(samples, sampleRate, target);
    sampleRate = target;
  }
  return { samples, sampleRate, channels: fmt.channels, bitDepth: fmt.bitsPerSample, originalSampleRate: fmt.sampleRate, encoding: fmt.encoding };
}

export type WavBitDepth = '8' | '16' | '24' | '32' | '32f' | '64f';

export interface EncodeWavOptions {
  /** Sample format (default '16'). Integer formats clip to [−1, 1]. */
  bitDepth?: WavBitDepth;
}

/**
 * Encodes mono samples as a WAV file. Integer formats round x·2^(bits−1) and clip to the integer
 * range (so decode(encode(x)) = x for values on that grid); float formats store the values as-is
 * (with the "fact" chunk non-PCM formats require).
 */
export function encodeWav(samples: Float32Array, sampleRate: number, options: EncodeWavOptions = {}): Uint8Array {
  const depth = options.bitDepth ?? '16';
  if (!Number.isInteger(sampleRate) || sampleRate < 1) throw new Error(`sample rate must be a positive integer, got ${sampleRate}`);
  const isFloat = depth === '32f' || depth === '64f';
  const bits = depth === '64f' ? 64 : depth === '32f' ? 32 : Number(depth);
  if (![8, 16, 24, 32, 64].includes(bits)) throw new Error(`unsupported bit depth '${String(depth)}'`);
  const bps = bits / 8;
  const n = samples.length;
  const dataBytes = n * bps;
  const fmtSize = isFloat ? 18 : 16;
  const factSize = isFloat ? 12 : 0;
  const total = 12 + 8 + fmtSize + factSize + 8 + dataBytes + (dataBytes & 1);
  if (total - 8 > 0xffffffff) throw new Error('audio too long for a RIFF WAV file (4 GiB limit)');
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  const str = (at: number, s: string) => {
    for (let i = 0; i < 4; i++) out[at + i] = s.charCodeAt(i);
  };
  str(0, 'RIFF');
  dv.setUint32(4, total - 8, true);
  str(8, 'WAVE');
  str(12, 'fmt ');
  dv.setUint32(16, fmtSize, true);
  dv.setUint16(20, isFloat ? 3 : 1, true);
  dv.setUint16(22, 1, true);
  dv.setUint32(24, sampleRate, true);
  dv.setUint32(28, sampleRate * bps, true);
  dv.setUint16(32, bps, true);
  dv.setUint16(34, bits, true);
  let p = 36;
  if (isFloat) {
    dv.setUint16(p, 0, true); // cbSize
    p += 2;
    str(p, 'fact');
    dv.setUint32(p + 4, 4, true);
    dv.setUint32(p + 8, n, true);
    p += 12;
  }
  str(p, 'data');
  dv.setUint32(p + 4, dataBytes, true);
  p += 8;
  const full = 2 ** (bits - 1);
  for (let i = 0; i < n; i++) {
    const x = samples[i]!;
    if (!Number.isFinite(x)) throw new Error(`cannot encode ${x} at sample ${i}`);
    const at = p + i * bps;
    if (depth === '32f') dv.setFloat32(at, x, true);
    else if (depth === '64f') dv.setFloat64(at, x, true);
    else {
      const v = Math.max(-full, Math.min(full - 1, Math.round(x * full)));
      if (bits === 8) dv.setUint8(at, v + 128);
      else if (bits === 16) dv.setInt16(at, v, true);
      else if (bits === 24) {
        dv.setUint8(at, v & 0xff);
        dv.setUint8(at + 1, (v >> 8) & 0xff);
        dv.setUint8(at + 2, (v >> 16) & 0xff);
      } else dv.setInt32(at, v, true);
    }
  }
  return out;
}
