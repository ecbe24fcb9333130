/**
 * Node-only reader for the raw-binary fixture manifests in shared/fixtures (parity tests, import).
 *
 * Two manifest styles, both JSON objects name → entry:
 * - `{shape, dtype, file}` (io.json): the tensor is the whole of `file`, relative to the manifest's
 *   directory (an optional `offset` selects a part of it);
 * - `{shape, dtype, offset}` (weights.json, grads.json): a slice of the `.bin` beside the manifest
 *   with the same stem. **`offset` counts float32 elements (4 bytes) regardless of dtype**, as the
 *   fixture READMEs define it.
 * Entries marked `"stored": false` (e.g. grads.json's `upsample.weight`) have no data and are skipped.
 * Data is raw little-endian, C order.
 */
import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type BinDType = 'float32' | 'float64';

export interface BinTensor {
  shape: number[];
  dtype: BinDType;
  data: Float32Array | Float64Array;
  /** Full-precision scalar value, when the manifest gives one (io.json's `value`). */
  value?: number;
}

interface ManifestEntry {
  shape?: unknown;
  dtype?: unknown;
  file?: unknown;
  offset?: unknown;
  stored?: unknown;
  value?: unknown;
}

const BYTES: Record<BinDType, number> = { float32: 4, float64: 8 };

/**
 * Read `dir/manifestName` and its `.bin` data into `name → {shape, dtype, data}`, in manifest order.
 * `dir` is a path or a `file:` URL (a URL should end in `/`).
 */
export function readBinManifest(dir: string | URL, manifestName: string): Map<string, BinTensor> {
  if (endianness() !== 'LE') throw new Error('readBinManifest: fixtures are little-endian; big-endian hosts are not supported');
  const base = typeof dir === 'string' ? dir : fileURLToPath(dir);
  const manifestPath = join(base, manifestName);
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Record<string, ManifestEntry>;
  const defaultBin = manifestName.replace(/\.json$/i, '') + '.bin';
  const files = new Map<string, Buffer>();
  const load = (rel: string): Buffer => {
    let buf = files.get(rel);
    if (!buf) {
      buf = readFileSync(join(dirname(manifestPath), rel));
      files.set(rel, buf);
    }
    return buf;
  };

  const out = new Map<string, BinTensor>();
  for (const [name, e] of Object.entries(manifest)) {
    const where = `${manifestName}: '${name}'`;
    if (e.stored === false) continue;
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((s) => Number.isSafeInteger(s) && s >= 0)) throw new Error(`${where}: bad shape`);
    const dtype = (e.dtype ?? 'float32') as BinDType;
    if (!(dtype in BYTES)) throw new Error(`${where}: unsupported dtype ${String(e.dtype)}`);
    if (e.file === undefined && e.offset === undefined) throw new Error(`${where}: neither 'file' nor 'offset' given`);
    if (e.offset !== undefined && !(Number.isSafeInteger(e.offset) && (e.offset as number) >= 0)) throw new Error(`${where}: bad offset`);
    const rel = typeof e.file === 'string' ? e.file : defaultBin;
    const buf = load(rel);
    const n = (shape as number[]).reduce((a, b) => a * b, 1);
    const start = ((e.offset as number | undefined) ?? 0) * 4;
    const end = start + n * BYTES[dtype];
    if (end > buf.length) throw new Error(`${where}: needs bytes ${start}..${end} of ${rel}, which has ${buf.length}`);
    // Copy into a fresh buffer: Node's Buffer may sit at an unaligned offset in a shared pool.
    const raw = buf.buffer.slice(buf.byteOffset + start, buf.byteOffset + end);
    const data = dtype === 'float64' ? new Float64Array(raw) : new Float32Array(raw);
    const t: BinTensor = { shape: [...(shape as number[])], dtype, data };
    if (typeof e.value === 'number') t.value = e.value;
    out.set(name, t);
  }
  return out;
}
