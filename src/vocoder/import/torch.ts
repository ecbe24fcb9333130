/**
 * Reader for PyTorch `.pt` files in the zip format (torch.save's default since PyTorch 1.6), aimed
 * at NVIDIA WaveGlow checkpoints. No Python at run time: the archive is unzipped with fflate, the
 * pickle is decoded by the restricted unpickler in ./pickle.ts, and storages are read from the
 * archive's raw little-endian `data/<key>` entries.
 *
 * Not supported: the legacy (pre-1.6, non-zip) serialization, which starts with a pickled magic
 * number instead of a zip header. Such files are refused with an error that suggests re-saving with
 * a current torch (`torch.save(torch.load(path), path)`).
 *
 * Isomorphic: no Node-only imports; the caller supplies the bytes.
 */
import { unzipSync } from 'fflate';
import {
  OBJECT_RULE,
  PyDict,
  PyGlobal,
  PyNative,
  PyObject,
  PySet,
  PyTuple,
  STANDARD_GLOBALS,
  describePy,
  unpickle,
  type GlobalRule,
  type PyValue,
} from './pickle.js';

export type TorchDType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

/** The shape every consumer needs: C-order float32 values. */
export interface TensorLike {
  shape: number[];
  data: Float32Array;
}

export class TorchImportError extends Error {
  override name = 'TorchImportError';
}

/**
 * A tensor in C order. Every dtype is converted to float32; `dtype` keeps the original. `data` is
 * materialised on first access, so tensors nobody reads (optimizer state, stale attributes) cost
 * nothing beyond the archive bytes; its bounds were checked when the tensor was rebuilt.
 */
export class TorchTensor extends PyNative implements TensorLike {
  readonly pyClass = 'torch.Tensor';
  #data: Float32Array | (() => Float32Array);
  constructor(
    readonly shape: number[],
    data: Float32Array | (() => Float32Array),
    readonly dtype: TorchDType,
    /** Storage location recorded in the file, e.g. `cpu` or `cuda:0`. */
    readonly device: string,
    readonly isParameter = false,
  ) {
    super();
    this.#data = data;
  }
  get data(): Float32Array {
    if (typeof this.#data === 'function') this.#data = this.#data();
    return this.#data;
  }
}

/** One `data/<key>` entry of the archive, typed by the storage class named in its persistent id. */
export class TorchStorage extends PyNative {
  readonly pyClass = 'torch.Storage';
  constructor(
    readonly key: string,
    readonly dtype: TorchDType,
    readonly device: string,
    readonly bytes: Uint8Array,
    readonly littleEndian: boolean,
  ) {
    super();
  }
  get numel(): number {
    return Math.floor(this.bytes.length / ITEM_SIZE[this.dtype]);
  }
}

const ITEM_SIZE: Record<TorchDType, number> = {
  float32: 4, float64: 8, float16: 2, bfloat16: 2, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1,
};

/** Legacy storage classes, which torch still names in persistent ids. */
const STORAGE_DTYPES: Readonly<Record<string, TorchDType>> = {
  'torch.FloatStorage': 'float32',
  'torch.DoubleStorage': 'float64',
  'torch.HalfStorage': 'float16',
  'torch.BFloat16Storage': 'bfloat16',
  'torch.LongStorage': 'int64',
  'torch.IntStorage': 'int32',
  'torch.ShortStorage': 'int16',
  'torch.CharStorage': 'int8',
  'torch.ByteStorage': 'uint8',
  'torch.BoolStorage': 'bool',
  // torch.UntypedStorage only appears with _rebuild_tensor_v3 (uint16/float8 dtypes): not supported.
};

// ---------------------------------------------------------------------------------------------
// The allow-list: every global a WaveGlow checkpoint may name. Anything else is refused by name.

const STORAGE_TAG: GlobalRule = {}; // only ever a type tag inside a persistent id

export const TORCH_GLOBALS: Readonly<Record<string, GlobalRule>> = {
  ...STANDARD_GLOBALS, // collections.OrderedDict, builtins.set, _codecs.encode
  'torch._utils._rebuild_tensor_v2': { call: rebuildTensor },
  'torch._utils._rebuild_tensor': { call: rebuildTensor },
  'torch._utils._rebuild_parameter': { call: rebuildParameter },
  'torch._utils._rebuild_parameter_with_state': { call: rebuildParameter },
  'torch.device': { call: torchDevice },
  ...Object.fromEntries(Object.keys(STORAGE_DTYPES).map((k) => [k, STORAGE_TAG])),
  // Pickled module objects (NVIDIA checkpoints) and weight-norm hooks: inert PyObjects.
  'glow.WaveGlow': OBJECT_RULE,
  'glow.WN': OBJECT_RULE,
  'glow.Invertible1x1Conv': OBJECT_RULE,
  'torch.nn.utils.weight_norm.WeightNorm': OBJECT_RULE,
};
/** Any class under these prefixes (Conv1d, ConvTranspose1d, ModuleList, ...) is an inert object. */
export const TORCH_OBJECT_PREFIXES: readonly string[] = ['torch.nn.modules.'];

export interface ReadTorchPtOptions {
  /** Further class names to accept as inert module objects, e.g. `['__main__.WaveGlow']`. */
  extraModuleClasses?: readonly string[];
}

export function torchGlobalResolver(options: ReadTorchPtOptions = {}): (module: string, name: string) => GlobalRule | undefined {
  const extra = new Set(options.extraModuleClasses ?? []);
  return (module, name) => {
    const q = `${module}.${name}`;
    if (Object.hasOwn(TORCH_GLOBALS, q)) return TORCH_GLOBALS[q];
    if (extra.has(q) || TORCH_OBJECT_PREFIXES.some((p) => q.startsWith(p))) return OBJECT_RULE;
    return undefined;
  };
}

// ---------------------------------------------------------------------------------------------
// Rebuilding tensors

function bad(msg: string): never {
  throw new TorchImportError(`corrupt checkpoint: ${msg}`);
}

function asInt(v: PyValue, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) bad(`${what} must be a non-negative int, got ${String(v)}`);
  return v;
}

function asIntTuple(v: PyValue, what: string): number[] {
  if (!(v instanceof PyTuple)) bad(`${what} must be a tuple, got ${describePy(v)}`);
  return v.items.map((x, i) => asInt(x, `${what}[${i}]`));
}

/** `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks, ...)`. */
function rebuildTensor(args: readonly PyValue[]): TorchTensor {
  const [storage, offsetV, sizeV, strideV] = args;
  if (!(storage instanceof TorchStorage)) bad(`_rebuild_tensor: expected a storage, got ${describePy(storage ?? null)}`);
  const offset = asInt(offsetV ?? null, 'storage offset');
  const shape = asIntTuple(sizeV ?? null, 'size');
  const stride = asIntTuple(strideV ?? null, 'stride');
  if (stride.length !== shape.length) bad(`size ${fmt(shape)} and stride ${fmt(stride)} differ in rank`);
  checkBounds(storage, offset, shape, stride);
  return new TorchTensor(shape, () => materialize(storage, offset, shape, stride), storage.dtype, storage.device);
}

/** `_rebuild_parameter(data, requires_grad, backward_hooks[, state])`. */
function rebuildParameter(args: readonly PyValue[]): TorchTensor {
  const t = args[0];
  if (!(t instanceof TorchTensor)) bad(`_rebuild_parameter: expected a tensor, got ${describePy(t ?? null)}`);
  return new TorchTensor(t.shape, () => t.data, t.dtype, t.device, true);
}

function torchDevice(args: readonly PyValue[]): string {
  const [type, index] = args;
  if (typeof type !== 'string') bad('torch.device: expected a string');
  return typeof index === 'number' ? `${type}:${index}` : type;
}

const MAX_ELEMENTS = 2 ** 31 - 1;
const fmt = (a: readonly number[]) => `(${a.join(', ')})`;

function checkBounds(storage: TorchStorage, offset: number, shape: number[], stride: number[]): void {
  if (shape.includes(0)) return;
  // Stride-0 (expanded) views can claim any size; refuse what no Float32Array can hold.
  if (shape.reduce((a, b) => a * b, 1) > MAX_ELEMENTS) bad(`tensor of size ${fmt(shape)} is too large`);
  let last = offset;
  for (let d = 0; d < shape.length; d++) last += (shape[d] - 1) * stride[d];
  if (last >= storage.numel) {
    bad(`tensor (offset ${offset}, size ${fmt(shape)}, stride ${fmt(stride)}) reaches element ${last} of storage '${storage.key}' holding ${storage.numel}`);
  }
}

/** Read `shape` elements at `offset` with `stride` (in elements) from a storage, into C order. */
function materialize(storage: TorchStorage, offset: number, shape: number[], stride: number[]): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  if (n === 0) return out;
  const { bytes, dtype, littleEndian } = storage;
  // Contiguous float32 in host order (the usual case): one copy.
  let contiguous = true;
  for (let d = shape.length - 1, expect = 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expect) contiguous = false;
    expect *= shape[d];
  }
  if (contiguous && dtype === 'float32' && littleEndian === HOST_LITTLE_ENDIAN) {
    const start = bytes.byteOffset + offset * 4;
    return new Float32Array(bytes.buffer.slice(start, start + n * 4));
  }
  const get = elementReader(dtype, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), littleEndian);
  if (contiguous) {
    for (let i = 0; i < n; i++) out[i] = get(offset + i);
    return out;
  }
  // Non-contiguous: walk the C-order index like an odometer, tracking the source element.
  const ndim = shape.length;
  const idx = new Array<number>(ndim).fill(0);
  let src = offset;
  for (let i = 0; i < n; i++) {
    out[i] = get(src);
    for (let d = ndim - 1; d >= 0; d--) {
      src += stride[d];
      if (++idx[d] < shape[d]) break;
      src -= stride[d] * shape[d];
      idx[d] = 0;
    }
  }
  return out;
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return sign * f * 2 ** -24;
  if (e === 31) return f ? NaN : sign * Infinity;
  return sign * (1 + f / 1024) * 2 ** (e - 15);
}

/** Element getter by element index. */
function elementReader(dtype: TorchDType, dv: DataView, le: boolean): (i: number) => number {
  switch (dtype) {
    case 'float32': return (i) => dv.getFloat32(i * 4, le);
    case 'float64': return (i) => dv.getFloat64(i * 8, le);
    case 'float16': return (i) => halfToFloat(dv.getUint16(i * 2, le));
    case 'bfloat16': {
      const scratch = new DataView(new ArrayBuffer(4));
      return (i) => {
        scratch.setUint32(0, dv.getUint16(i * 2, le) << 16);
        return scratch.getFloat32(0);
      };
    }
    case 'int64': return (i) => Number(dv.getBigInt64(i * 8, le));
    case 'int32': return (i) => dv.getInt32(i * 4, le);
    case 'int16': return (i) => dv.getInt16(i * 2, le);
    case 'int8': return (i) => dv.getInt8(i);
    case 'uint8': return (i) => dv.getUint8(i);
    case 'bool': return (i) => (dv.getUint8(i) ? 1 : 0);
  }
}

// ---------------------------------------------------------------------------------------------
// The archive

const LEGACY_HINT =
  'this looks like a legacy (pre-1.6, non-zip) torch.save file, which is not supported; ' +
  're-save it with a current PyTorch: torch.save(torch.load(path, map_location="cpu"), new_path)';

/**
 * Decode a zip-format `.pt` file into Python values (dicts, module objects, {@link TorchTensor}s).
 * Throws {@link TorchImportError} (or PickleError from the unpickler) with a clear message for
 * legacy files, archives that are not torch.save output, truncation, corruption and globals that
 * are not on the allow-list ({@link TORCH_GLOBALS}).
 */
export function readTorchPt(bytes: Uint8Array, options: ReadTorchPtOptions = {}): PyValue {
  if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] <= 5) throw new TorchImportError(LEGACY_HINT);
  if (bytes.length < 4 || bytes[0] !== 0x50 || bytes[1] !== 0x4b) {
    throw new TorchImportError('not a PyTorch zip archive (no "PK" zip header); is this a .pt file?');
  }
  const expected = new Map<string, number>();
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes, {
      filter: (f) => {
        expected.set(f.name, f.originalSize);
        return true;
      },
    });
  } catch (e) {
    throw new TorchImportError(`cannot read the .pt zip archive (truncated or corrupt?): ${(e as Error).message}`);
  }
  for (const [name, size] of expected) {
    if (files[name]?.length !== size) {
      throw new TorchImportError(`zip entry '${name}' is truncated: ${files[name]?.length ?? 0} of ${size} bytes`);
    }
  }
  return readTorchFiles(files, options);
}

/** {@link readTorchPt} on an archive that is already unzipped: entry name → bytes. */
export function readTorchFiles(files: Readonly<Record<string, Uint8Array>>, options: ReadTorchPtOptions = {}): PyValue {
  const pkls = Object.keys(files).filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkls.length !== 1) {
    throw new TorchImportError(
      pkls.length ? `archive holds several pickles (${pkls.join(', ')})` : 'archive has no <name>/data.pkl: not written by torch.save',
    );
  }
  const stem = pkls[0].slice(0, -'/data.pkl'.length);
  const order = files[`${stem}/byteorder`];
  const littleEndian = order ? new TextDecoder().decode(order).trim() !== 'big' : true;

  const storages = new Map<string, TorchStorage>();
  const persistentLoad = (pid: PyValue): TorchStorage => {
    // ('storage', storage_type, key, location, numel)
    if (!(pid instanceof PyTuple) || pid.items.length !== 5 || pid.items[0] !== 'storage') {
      bad(`unexpected persistent id ${describePy(pid)}`);
    }
    const [, type, key, location, numelV] = pid.items;
    if (!(type instanceof PyGlobal) || !(type.qualifiedName in STORAGE_DTYPES)) bad(`unknown storage type ${describePy(type)}`);
    if (typeof key !== 'string' || typeof location !== 'string') bad('storage key and location must be strings');
    const dtype = STORAGE_DTYPES[type.qualifiedName];
    const cached = storages.get(key);
    if (cached) return cached;
    const data = files[`${stem}/data/${key}`];
    if (!data) bad(`storage '${key}' is missing from the archive (expected ${stem}/data/${key})`);
    const numel = asInt(numelV, 'storage size');
    if (data.length < numel * ITEM_SIZE[dtype]) {
      bad(`storage '${key}' has ${data.length} bytes, its ${numel} ${dtype} elements need ${numel * ITEM_SIZE[dtype]}`);
    }
    const s = new TorchStorage(key, dtype, location, data, littleEndian);
    storages.set(key, s);
    return s;
  };
  return unpickle(files[pkls[0]], { resolveGlobal: torchGlobalResolver(options), persistentLoad });
}

// ---------------------------------------------------------------------------------------------
// State dict extraction

/**
 * Flatten a checkpoint into `name → tensor` with PyTorch's `state_dict()` names and order.
 * Accepts a plain (Ordered)dict of tensors, `{'model': module or dict, ...}` (NVIDIA train.py;
 * other entries such as `optimizer` are ignored), `{'state_dict': dict}`, or a pickled module.
 * Modules are walked through `_parameters`, persistent `_buffers` and `_modules`.
 *
 * Weight norm: `weight_g`/`weight_v` pairs become `weight = g · v / ‖v‖`, the norm taken per slice
 * along the WeightNorm hook's `dim` (dim −1: whole tensor, as torch's `norm_except_dim`), in float64
 * and rounded once to float32. The plain `weight` attribute pickled beside them is stale and ignored.
 */
export function extractStateDict(root: PyValue): Map<string, TorchTensor> {
  const out = new Map<string, TorchTensor>();
  collect(root, out, 'the file');
  if (out.size === 0) throw new TorchImportError('no tensors found in the checkpoint');
  return out;
}

/** `extractStateDict(readTorchPt(bytes))`. */
export function loadTorchStateDict(bytes: Uint8Array, options?: ReadTorchPtOptions): Map<string, TorchTensor> {
  return extractStateDict(readTorchPt(bytes, options));
}

function collect(root: PyValue, out: Map<string, TorchTensor>, where: string): void {
  if (isModule(root)) {
    walkModule(root, '', out, new Set());
    return;
  }
  if (root instanceof PyDict) {
    if (root.has('model')) return collect(root.get('model') ?? null, out, `${where}['model']`);
    if (root.has('state_dict')) return collect(root.get('state_dict') ?? null, out, `${where}['state_dict']`);
    const flat = new Map<string, TorchTensor>();
    for (const [k, v] of root) {
      if (typeof k === 'string' && v instanceof TorchTensor) flat.set(k, v);
      else {
        throw new TorchImportError(
          `${where} is a dict but not a state dict: entry ${JSON.stringify(String(k))} is ${describePy(v)}; ` +
            `expected name → tensor, {'model': ...} or {'state_dict': ...} (keys: ${[...root.keys()].map(String).join(', ')})`,
        );
      }
    }
    fuseFlatWeightNorm(flat, out);
    return;
  }
  throw new TorchImportError(`${where} holds ${describePy(root)}; expected a state dict, a checkpoint dict or a module`);
}

type ModuleObject = PyObject & { state: PyDict };

function isModule(v: PyValue): v is ModuleObject {
  return v instanceof PyObject && v.state instanceof PyDict && v.state.get('_parameters') instanceof PyDict && v.state.get('_modules') instanceof PyDict;
}

function walkModule(m: ModuleObject, prefix: string, out: Map<string, TorchTensor>, seen: Set<PyObject>): void {
  if (seen.has(m)) throw new TorchImportError(`module '${prefix}' (${m.className}) appears twice (shared or cyclic modules are not supported)`);
  seen.add(m);
  const st = m.state;
  const params = st.get('_parameters') as PyDict;

  // weight-norm hooks: name → dim
  const norms = new Map<string, number | undefined>();
  const hooks = st.get('_forward_pre_hooks');
  if (hooks instanceof PyDict) {
    for (const h of hooks.values()) {
      if (h instanceof PyObject && h.className === 'torch.nn.utils.weight_norm.WeightNorm' && h.state instanceof PyDict) {
        const name = h.state.get('name');
        const dim = h.state.get('dim');
        if (typeof name !== 'string') bad(`WeightNorm hook on '${prefix}' has no name`);
        norms.set(name, typeof dim === 'number' ? dim : dim === null || dim === undefined ? -1 : bad(`WeightNorm dim ${describePy(dim)}`));
      }
    }
  }
  if (!norms.has('weight') && params.has('weight_g') && params.has('weight_v')) norms.set('weight', undefined);

  for (const [k, p] of params) {
    if (typeof k !== 'string') bad(`parameter name ${String(k)} in '${prefix}' is not a string`);
    if (p === null) continue;
    const base = k.endsWith('_g') || k.endsWith('_v') ? k.slice(0, -2) : '';
    if (norms.has(base) && params.has(`${base}_g`) && params.has(`${base}_v`)) {
      if (k.endsWith('_v')) continue; // emitted with its _g, at _g's position as state_dict() would after removal
      out.set(prefix + base, fuseWeightNorm(tensorAt(params.get(`${base}_g`) ?? null, prefix + k), tensorAt(params.get(`${base}_v`) ?? null, `${prefix}${base}_v`), norms.get(base), prefix + base));
      continue;
    }
    out.set(prefix + k, tensorAt(p, prefix + k));
  }

  const buffers = st.get('_buffers');
  const nonPersistent = st.get('_non_persistent_buffers_set');
  if (buffers instanceof PyDict) {
    for (const [k, b] of buffers) {
      if (b === null || typeof k !== 'string' || (nonPersistent instanceof PySet && nonPersistent.has(k))) continue;
      out.set(prefix + k, tensorAt(b, prefix + k));
    }
  }

  for (const [k, sub] of st.get('_modules') as PyDict) {
    if (sub === null) continue;
    const name = `${prefix}${String(k)}`;
    if (!isModule(sub)) throw new TorchImportError(`submodule '${name}' is ${describePy(sub)}, not a torch module`);
    walkModule(sub, `${name}.`, out, seen);
  }
}

function tensorAt(v: PyValue, name: string): TorchTensor {
  if (!(v instanceof TorchTensor)) throw new TorchImportError(`'${name}' is ${describePy(v)}, expected a tensor`);
  return v;
}

/** Plain state dicts of weight-normed models: fuse `P.weight_g` + `P.weight_v` when `P.weight` is absent. */
function fuseFlatWeightNorm(flat: Map<string, TorchTensor>, out: Map<string, TorchTensor>): void {
  for (const [k, t] of flat) {
    const m = /^(.*?)weight_([gv])$/.exec(k);
    if (m && flat.has(`${m[1]}weight_g`) && flat.has(`${m[1]}weight_v`) && !flat.has(`${m[1]}weight`)) {
      if (m[2] === 'g') out.set(`${m[1]}weight`, fuseWeightNorm(t, flat.get(`${m[1]}weight_v`) as TorchTensor, undefined, `${m[1]}weight`));
      continue;
    }
    out.set(k, t);
  }
}

/**
 * `w = g · v / ‖v‖`, the norm over all dims but `dim` (−1: over everything). Without a hook the dim
 * is read off g's shape (the one axis of g that is not 1; 0 when all are 1, torch's default).
 */
export function fuseWeightNorm(g: TensorLike, v: TensorLike, dim: number | undefined, name = 'weight'): TorchTensor {
  const shape = v.shape;
  const ndim = shape.length;
  if (dim === undefined) {
    const axes = g.shape.map((s, i) => (s !== 1 ? i : -1)).filter((i) => i >= 0);
    if (g.shape.length === 0) dim = -1;
    else if (axes.length <= 1) dim = axes[0] ?? 0;
    else throw new TorchImportError(`weight norm '${name}': cannot tell dim from g of shape ${fmt(g.shape)}`);
  }
  if (dim < -1) dim += ndim; // torch: only −1 means "whole tensor"; other negatives count from the end
  if (dim >= ndim || dim < -1) bad(`weight norm '${name}': dim ${dim} out of range for v of shape ${fmt(shape)}`);
  const groups = dim === -1 ? 1 : shape[dim];
  const inner = dim === -1 ? v.data.length : shape.slice(dim + 1).reduce((a, b) => a * b, 1);
  const gShapeOk = dim === -1 || g.shape.length !== ndim || g.shape.every((s, i) => s === (i === dim ? groups : 1));
  if (g.data.length !== groups || !gShapeOk) {
    bad(`weight norm '${name}': g of shape ${fmt(g.shape)} does not match v ${fmt(shape)} along dim ${dim}`);
  }
  const sumsq = new Float64Array(groups);
  const vd = v.data;
  for (let i = 0; i < vd.length; i++) {
    const x = vd[i];
    sumsq[Math.floor(i / inner) % groups] += x * x;
  }
  const scale = new Float64Array(groups);
  for (let k = 0; k < groups; k++) scale[k] = g.data[k] / Math.sqrt(sumsq[k]);
  const w = new Float32Array(vd.length);
  for (let i = 0; i < vd.length; i++) w[i] = vd[i] * scale[Math.floor(i / inner) % groups];
  const t = v instanceof TorchTensor ? v : null;
  return new TorchTensor([...shape], w, t?.dtype ?? 'float32', t?.device ?? 'cpu', true);
}
