/**
 * NumPy .npy reading and writing on Uint8Array (format versions 1.0, 2.0, 3.0), plus the mel
 * layout conversion used to exchange spectrograms with Python TTS tools.
 * Spec: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
 */
import type { MelSpectrogram } from './mel.js';

/** Little-endian dtypes we read. Integers are converted to Float32 (not rescaled). */
export type NpyDtype = '<f4' | '<f8' | '<i2' | '<i4';

export interface NpyArray {
  /** C-order (row-major) values; Float64Array only for '<f8'. */
  data: Float32Array | Float64Array;
  shape: number[];
  /** The dtype stored in the file. */
  dtype: NpyDtype;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const ITEM_SIZE: Record<NpyDtype, number> = { '<f4': 4, '<f8': 8, '<i2': 2, '<i4': 4 };

function headerField(header: string, key: string): string {
  const m = new RegExp(`['"]${key}['"]\\s*:\\s*`).exec(header);
  if (!m) throw new Error(`npy header has no '${key}' field: ${header.trim()}`);
  return header.slice(m.index + m[0].length);
}

function parseHeader(header: string): { descr: string; fortran: boolean; shape: number[] } {
  const descrM = /^['"]([^'"]*)['"]/.exec(headerField(header, 'descr'));
  if (!descrM) throw new Error(`npy header: cannot read 'descr' (structured dtypes are not supported): ${header.trim()}`);
  const fortranM = /^(True|False)/.exec(headerField(header, 'fortran_order'));
  if (!fortranM) throw new Error(`npy header: cannot read 'fortran_order': ${header.trim()}`);
  const shapeM = /^\(([^)]*)\)/.exec(headerField(header, 'shape'));
  if (!shapeM) throw new Error(`npy header: cannot read 'shape': ${header.trim()}`);
  const shape = shapeM[1]!
    .split(',')
    .map((s) => s.trim().replace(/L$/, ''))
    .filter((s) => s.length > 0)
    .map((s) => {
      const v = Number(s);
      if (!Number.isInteger(v) || v < 0) throw new Error(`npy header: bad dimension "${s}" in shape (${shapeM[1]})`);
      return v;
    });
  return { descr: descrM[1]!, fortran: fortranM[1] === 'True', shape };
}

function normalizeDtype(descr: string): NpyDtype {
  // '|' (not applicable) and '=' (native) only make sense for 1-byte types or the writer's machine.
  const d = descr.replace(/^=/, '<');
  if (d === '<f4' || d === '<f8' || d === '<i2' || d === '<i4') return d;
  if (descr.startsWith('>')) {
    throw new Error(`npy dtype '${descr}' is big-endian; re-save it little-endian (numpy: a.astype('<${descr.slice(1)}'))`);
  }
  throw new Error(`unsupported npy dtype '${descr}'; supported: <f4, <f8, <i2, <i4`);
}

/** Parses a .npy file. Fortran-ordered arrays are transposed to C order. */
export function readNpy(bytes: Uint8Array): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw new Error('not a .npy file (missing \\x93NUMPY magic)');
  const major = bytes[6]!;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let offset: number;
  if (major === 1) {
    headerLen = dv.getUint16(8, true);
    offset = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new Error('truncated .npy header');
    headerLen = dv.getUint32(8, true);
    offset = 12;
  } else {
    throw new Error(`unsupported .npy format version ${major}.${bytes[7]}`);
  }
  if (offset + headerLen > bytes.length) throw new Error(`truncated .npy header: needs ${headerLen} bytes, ${bytes.length - offset} present`);
  const headerBytes = bytes.subarray(offset, offset + headerLen);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(headerBytes);
  const { descr, fortran, shape } = parseHeader(header);
  const dtype = normalizeDtype(descr);
  const size = shape.reduce((a, b) => a * b, 1);
  const item = ITEM_SIZE[dtype];
  const start = offset + headerLen;
  const need = size * item;
  if (bytes.length - start < need) {
    throw new Error(`truncated .npy data: shape (${shape.join(', ')}) of ${dtype} needs ${need} bytes, ${bytes.length - start} present`);
  }
  const raw = dtype === '<f8' ? new Float64Array(size) : new Float32Array(size);
  // DataView: the data offset need not be aligned inside the caller's buffer.
  for (let i = 0; i < size; i++) {
    const p = start + i * item;
    raw[i] = dtype === '<f4' ? dv.getFloat32(p, true) : dtype === '<f8' ? dv.getFloat64(p, true) : dtype === '<i2' ? dv.getInt16(p, true) : dv.getInt32(p, true);
  }
  const data = fortran && shape.length > 1 ? fortranToC(raw, shape) : raw;
  return { data, shape, dtype };
}

/** Reorders column-major data to row-major for the given shape. */
function fortranToC<T extends Float32Array | Float64Array>(src: T, shape: number[]): T {
  const out = new (src.constructor as new (n: number) => T)(src.length);
  const nd = shape.length;
  const fStride = new Array<number>(nd);
  let s = 1;
  for (let d = 0; d < nd; d++) {
    fStride[d] = s;
    s *= shape[d]!;
  }
  const idx = new Array<number>(nd).fill(0);
  for (let i = 0; i < out.length; i++) {
    let f = 0;
    for (let d = 0; d < nd; d++) f += idx[d]! * fStride[d]!;
    out[i] = src[f]!;
    for (let d = nd - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

/**
 * Serialises a C-order array as .npy (version 1.0, or 2.0 if the header needs it), header padded to a
 * multiple of 64 bytes as numpy writes it.
 */
export function writeNpy(data: ArrayLike<number>, shape: readonly number[], dtype: '<f4' | '<f8' = '<f4'): Uint8Array {
  if (dtype !== '<f4' && dtype !== '<f8') throw new Error(`writeNpy supports '<f4' and '<f8', got '${String(dtype)}'`);
  for (const d of shape) if (!Number.isInteger(d) || d < 0) throw new Error(`bad dimension ${d} in shape [${shape.join(', ')}]`);
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== data.length) throw new Error(`shape [${shape.join(', ')}] holds ${size} values, data has ${data.length}`);
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  let major = 1;
  let pre = 10;
  if (dict.length + 1 + pre > 65535) {
    major = 2;
    pre = 12;
  }
  const total = Math.ceil((pre + dict.length + 1) / 64) * 64;
  dict = dict.padEnd(total - pre - 1, ' ') + '\n';
  const item = dtype === '<f4' ? 4 : 8;
  const out = new Uint8Array(total + size * item);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const dv = new DataView(out.buffer);
  if (major === 1) dv.setUint16(8, dict.length, true);
  else dv.setUint32(8, dict.length, true);
  for (let i = 0; i < dict.length; i++) out[pre + i] = dict.charCodeAt(i);
  for (let i = 0; i < size; i++) {
    if (item === 4) dv.setFloat32(total + i * 4, data[i]!, true);
    else dv.setFloat64(total + i * 8, data[i]!, true);
  }
  return out;
}

/**
 * Mel spectrogram from a .npy array (or its bytes) in the Python TTS convention, mel-major:
 * [nMels, T] or [1, nMels, T]. [T, nMels] is accepted only when unambiguous (T ≠ nMels).
 * Returns channels-last Float32 {data[t·nMels + m], frames, nMels}.
 */
export function melFromNpy(npy: NpyArray | Uint8Array, expectedNMels = 80): MelSpectrogram {
  const arr = npy instanceof Uint8Array ? readNpy(npy) : npy;
  const shape = arr.shape;
  const n = expectedNMels;
  let melMajor: boolean;
  let frames: number;
  if (shape.length === 2 && shape[0] === n) {
    melMajor = true;
    frames = shape[1]!;
  } else if (shape.length === 3 && shape[0] === 1 && shape[1] === n) {
    melMajor = true;
    frames = shape[2]!;
  } else if (shape.length === 2 && shape[1] === n) {
    melMajor = false;
    frames = shape[0]!;
  } else {
    throw new Error(`mel .npy has shape [${shape.join(', ')}]; expected [${n}, T] or [1, ${n}, T] (mel-major), or [T, ${n}]`);
  }
  if (frames < 1) throw new Error(`mel .npy has no frames (shape [${shape.join(', ')}])`);
  const src = arr.data;
  const data = new Float32Array(frames * n);
  for (let m = 0; m < n; m++) {
    for (let t = 0; t < frames; t++) {
      const v = melMajor ? src[m * frames + t]! : src[t * n + m]!;
      if (!Number.isFinite(v)) throw new Error(`mel .npy contains ${v} at band ${m}, frame ${t}`);
      data[t * n + m] = v;
    }
  }
  return { data, frames, nMels: n };
}

/** The [nMels, T] float32 .npy bytes of a channels-last mel spectrogram (inverse of melFromNpy). */
export function melToNpy(mel: MelSpectrogram): Uint8Array {
  const { data, frames, nMels } = mel;
  if (data.length !== frames * nMels) throw new Error(`mel data has ${data.length} values, expected frames·nMels = ${frames * nMels}`);
  const t = new Float32Array(frames * nMels);
  for (let f = 0; f < frames; f++) for (let m = 0; m < nMels; m++) t[m * frames + f] = data[f * nMels + m]!;
  return writeNpy(t, [nMels, frames], '<f4');
}
