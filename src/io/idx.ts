/**
 * IDX files (LeCun's format for MNIST and Fashion-MNIST): a 4-byte magic [0, 0, dtype, ndim],
 * ndim big-endian uint32 dimensions, then the values, row-major and big-endian.
 * `parseIdx` is pure (bytes in, typed array out); `readIdx` reads a file and gunzips it when it
 * starts with the gzip magic (Debian ships Fashion-MNIST as *-ubyte.gz).
 */
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';

export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  /** e.g. [60000, 28, 28] for MNIST images, [60000] for labels. */
  shape: number[];
  data: IdxData;
}

const TYPES: Record<number, { name: string; bytes: number }> = {
  0x08: { name: 'uint8', bytes: 1 },
  0x09: { name: 'int8', bytes: 1 },
  0x0b: { name: 'int16', bytes: 2 },
  0x0c: { name: 'int32', bytes: 4 },
  0x0d: { name: 'float32', bytes: 4 },
  0x0e: { name: 'float64', bytes: 8 },
};

/** Decodes an (uncompressed) IDX buffer; throws on a bad magic, unknown type or wrong length. */
export function parseIdx(bytes: Uint8Array): IdxArray {
  if (bytes.byteLength < 4) throw new Error(`idx: ${bytes.byteLength} bytes is too short for a header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint16(0) !== 0) {
    const gz = bytes[0] === 0x1f && bytes[1] === 0x8b;
    throw new Error(`idx: bad magic 0x${view.getUint16(0).toString(16).padStart(4, '0')}${gz ? ' (gzip data: decompress first)' : ''}`);
  }
  const code = bytes[2];
  const type = TYPES[code];
  if (!type) throw new Error(`idx: unknown element type 0x${code.toString(16)}`);
  const ndim = bytes[3];
  const header = 4 + 4 * ndim;
  if (bytes.byteLength < header) throw new Error(`idx: header needs ${header} bytes for ${ndim} dimensions, got ${bytes.byteLength}`);
  const shape = Array.from({ length: ndim }, (_, i) => view.getUint32(4 + 4 * i));
  const count = shape.reduce((a, b) => a * b, 1);
  const expected = header + count * type.bytes;
  if (bytes.byteLength !== expected) {
    throw new Error(`idx: shape [${shape}] of ${type.name} needs ${expected} bytes, the buffer has ${bytes.byteLength}`);
  }
  let data: IdxData;
  switch (type.name) {
    // Copies into plain arrays (a Node Buffer's slice() is a view into a shared pool).
    case 'uint8':
      data = new Uint8Array(bytes.subarray(header, expected));
      break;
    case 'int8':
      data = new Int8Array(new Uint8Array(bytes.subarray(header, expected)).buffer);
      break;
    default: {
      // Multi-byte values are big-endian; DataView reads them portably.
      const out = type.name === 'int16' ? new Int16Array(count) : type.name === 'int32' ? new Int32Array(count) : type.name === 'float32' ? new Float32Array(count) : new Float64Array(count);
      for (let i = 0, o = header; i < count; i++, o += type.bytes) {
        out[i] = type.name === 'int16' ? view.getInt16(o) : type.name === 'int32' ? view.getInt32(o) : type.name === 'float32' ? view.getFloat32(o) : view.getFloat64(o);
      }
      data = out;
    }
  }
  return { shape, data };
}

/** Builds an IDX buffer (the inverse of parseIdx), e.g. for tests and small exported sets. */
export function encodeIdx(shape: number[], data: IdxData): Uint8Array {
  const entry = Object.entries(TYPES).find(([, t]) => t.name === typeName(data));
  if (!entry) throw new Error('idx: unsupported array type');
  const [code, type] = [Number(entry[0]), entry[1]];
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new Error(`idx: shape [${shape}] holds ${count} values, got ${data.length}`);
  const header = 4 + 4 * shape.length;
  const out = new Uint8Array(header + count * type.bytes);
  const view = new DataView(out.buffer);
  out[2] = code;
  out[3] = shape.length;
  shape.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  for (let i = 0; i < count; i++) {
    const o = header + i * type.bytes;
    const v = data[i];
    if (type.name === 'uint8') out[o] = v;
    else if (type.name === 'int8') view.setInt8(o, v);
    else if (type.name === 'int16') view.setInt16(o, v);
    else if (type.name === 'int32') view.setInt32(o, v);
    else if (type.name === 'float32') view.setFloat32(o, v);
    else view.setFloat64(o, v);
  }
  return out;
}

function typeName(a: IdxData): string {
  return a instanceof Uint8Array ? 'uint8' : a instanceof Int8Array ? 'int8' : a instanceof Int16Array ? 'int16' : a instanceof Int32Array ? 'int32' : a instanceof Float32Array ? 'float32' : 'float64';
}

/** Reads an IDX file, gunzipping it first when it is gzip-compressed (by content, not by name). */
export async function readIdx(path: string): Promise<IdxArray> {
  let bytes: Uint8Array = await readFile(path);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
  try {
    return parseIdx(bytes);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
}
