import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { unzipSync, zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { readBinManifest, type BinTensor } from '../src/io/fixtures.js';
import {
  PickleError,
  PyDict,
  PyObject,
  TorchImportError,
  TorchTensor,
  extractStateDict,
  fuseWeightNorm,
  readTorchFiles,
  readTorchPt,
  torchGlobalResolver,
  unpickle,
  type PyValue,
} from '../src/vocoder/import/index.js';

const FIXTURES = new URL('../../shared/fixtures/waveglow-parity/', import.meta.url);
const readFixture = (name: string) => new Uint8Array(readFileSync(fileURLToPath(new URL(name, FIXTURES))));

const ref = readBinManifest(FIXTURES, 'weights.json');
const sdBytes = readFixture('state_dict.pt');
const nvBytes = readFixture('nvidia_checkpoint_weightnorm.pt');

function compare(sd: Map<string, TorchTensor>, reference: Map<string, BinTensor>): number {
  expect([...sd.keys()]).toEqual([...reference.keys()]); // same set, and state_dict() order
  let maxDiff = 0;
  for (const [k, r] of reference) {
    const t = sd.get(k) as TorchTensor;
    expect(t.shape, k).toEqual(r.shape);
    expect(t.data.length, k).toBe(r.data.length);
    for (let i = 0; i < r.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(t.data[i] - r.data[i]));
  }
  return maxDiff;
}

// --- a tiny pickle writer for crafted inputs --------------------------------------------------
type Part = number | string | Uint8Array | Part[];
const utf8 = new TextEncoder();
function bytes(...parts: Part[]): Uint8Array {
  const out: number[] = [];
  const put = (p: Part): void => {
    if (typeof p === 'number') out.push(p);
    else if (typeof p === 'string') for (const c of p) out.push(c.charCodeAt(0)); // latin-1 opcode text
    else if (p instanceof Uint8Array) out.push(...p);
    else p.forEach(put);
  };
  parts.forEach(put);
  return new Uint8Array(out);
}
const le32 = (n: number) => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff];
const X = (s: string): Part => {
  const u = utf8.encode(s);
  return ['X', le32(u.length), u];
};
const K = (n: number): Part => ['K', n];
const glob = (m: string, n: string): Part => `c${m}\n${n}\n`;
const tup = (...items: Part[]): Part => ['(', items, 't'];
/** `_rebuild_tensor_v2(storage key '0', offset, size, stride, False, OrderedDict())`. */
function tensorPickle(storageClass: string, numel: number, offset: number, size: number[], stride: number[]): Uint8Array {
  return bytes(
    [0x80, 2],
    glob('torch._utils', '_rebuild_tensor_v2'),
    '(',
    tup(X('storage'), glob('torch', storageClass), X('0'), X('cpu'), K(numel)),
    'Q',
    K(offset),
    tup(...size.map(K)),
    tup(...stride.map(K)),
    0x89,
    glob('collections', 'OrderedDict'),
    ')R',
    't',
    'R.',
  );
}
const rawBytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const asTensor = (v: PyValue): TorchTensor => {
  expect(v).toBeInstanceOf(TorchTensor);
  return v as TorchTensor;
};

/** Attribute `name` of a pickled module's __dict__, or a submodule when `name` is in `_modules`. */
function attr(m: PyValue, name: string): PyValue {
  const st = (m as PyObject).state as PyDict;
  const mods = st.get('_modules') as PyDict;
  return mods.has(name) ? (mods.get(name) ?? null) : (st.get(name) ?? null);
}

describe('readTorchPt on the WaveGlow fixtures', () => {
  it('state_dict.pt equals weights.bin bit for bit', () => {
    const sd = extractStateDict(readTorchPt(sdBytes));
    expect(sd.size).toBe(62);
    expect(compare(sd, ref)).toBe(0);
    const up = sd.get('upsample.weight') as TorchTensor;
    expect(up.shape).toEqual([80, 80, 1024]);
    expect(up.dtype).toBe('float32');
    expect(up.device).toBe('cpu');
  });

  it('the NVIDIA weight-norm checkpoint fuses g·v/‖v‖ and matches to 1e-6', () => {
    const root = readTorchPt(nvBytes);
    const sd = extractStateDict(root);
    const maxDiff = compare(sd, ref);
    console.log(`weight-norm checkpoint vs weights.bin: max |diff| = ${maxDiff.toExponential(2)}`);
    expect(maxDiff).toBeLessThan(1e-6);
    expect([...sd.keys()].some((k) => k.endsWith('_g') || k.endsWith('_v'))).toBe(false);

    // The pickled plain `weight` beside weight_g/weight_v is stale; using it would fail the parity.
    const layer = attr(attr(attr(attr((root as PyDict).get('model') ?? null, 'WN'), '0'), 'in_layers'), '1');
    const stale = asTensor(attr(layer, 'weight'));
    const good = ref.get('WN.0.in_layers.1.weight') as BinTensor;
    let staleDiff = 0;
    for (let i = 0; i < good.data.length; i++) staleDiff = Math.max(staleDiff, Math.abs(stale.data[i] - good.data[i]));
    expect(staleDiff).toBeGreaterThan(0.1);
    expect(attr(layer, 'weight_g')).toBeNull(); // parameters live in _parameters, not in __dict__
  });

  it('keeps the other checkpoint entries (optimizer, learning_rate, iteration) as plain data', () => {
    const root = readTorchPt(nvBytes) as PyDict;
    expect(root).toBeInstanceOf(PyDict);
    expect([...root.keys()]).toEqual(['model', 'iteration', 'optimizer', 'learning_rate']);
    expect(root.get('learning_rate')).toBe(1e-4);
    expect(root.get('iteration')).toBe(0);
    const opt = root.get('optimizer') as PyDict;
    const group = (opt.get('param_groups') as PyValue[])[0] as PyDict;
    expect(group.get('lr')).toBe(1e-4);
    expect((group.get('params') as PyValue[]).length).toBe(86);
    expect((root.get('model') as PyObject).className).toBe('glow.WaveGlow');
    // A dict whose 'state_dict' holds the weights is accepted too.
    const wrapped = new PyDict();
    wrapped.set('state_dict', readTorchPt(sdBytes));
    expect(extractStateDict(wrapped).size).toBe(62);
  });
});

describe('tensor rebuilding', () => {
  const floats = new Float32Array([0, 1, 2, 3, 4, 5]);
  const read = (pkl: Uint8Array, data: Uint8Array) => asTensor(readTorchFiles({ 'x/data.pkl': pkl, 'x/data/0': data }));

  it('materialises non-contiguous strides and storage offsets in C order', () => {
    const t = read(tensorPickle('FloatStorage', 6, 0, [3, 2], [1, 3]), rawBytes(floats)); // a transposed (2,3)
    expect(t.shape).toEqual([3, 2]);
    expect([...t.data]).toEqual([0, 3, 1, 4, 2, 5]);
    expect([...read(tensorPickle('FloatStorage', 6, 1, [2], [2]), rawBytes(floats)).data]).toEqual([1, 3]);
    const scalar = read(tensorPickle('FloatStorage', 6, 4, [], []), rawBytes(floats));
    expect(scalar.shape).toEqual([]);
    expect([...scalar.data]).toEqual([4]);
  });

  it('converts float64, float16 and int64 storages to float32 and keeps the dtype', () => {
    const d = read(tensorPickle('DoubleStorage', 2, 0, [2], [1]), rawBytes(new Float64Array([0.1, -2.5])));
    expect(d.dtype).toBe('float64');
    expect([...d.data]).toEqual([Math.fround(0.1), -2.5]);
    const halves = new Uint16Array([0x3c00, 0xc000, 0x3555, 0x0001, 0x7c00]);
    const h = read(tensorPickle('HalfStorage', 5, 0, [5], [1]), rawBytes(halves));
    expect(h.dtype).toBe('float16');
    expect([...h.data]).toEqual([1, -2, Math.fround(0.333251953125), Math.fround(2 ** -24), Infinity]);
    const l = read(tensorPickle('LongStorage', 2, 0, [2], [1]), rawBytes(new BigInt64Array([-7n, 123456n])));
    expect([...l.data]).toEqual([-7, 123456]);
  });

  it('rejects a tensor that reaches past its storage', () => {
    expect(() => read(tensorPickle('FloatStorage', 6, 0, [3, 3], [3, 1]), rawBytes(floats))).toThrow(
      /reaches element 8 of storage '0' holding 6/,
    );
    expect(() => read(tensorPickle('FloatStorage', 9, 0, [3], [1]), rawBytes(floats))).toThrow(/storage '0' has 24 bytes/);
  });
});

describe('weight norm', () => {
  it('fuses per slice along dim, over the whole tensor for dim -1', () => {
    const v = { shape: [2, 1, 2], data: new Float32Array([3, 4, 1, 0]) };
    const w0 = fuseWeightNorm({ shape: [2, 1, 1], data: new Float32Array([10, -2]) }, v, 0);
    expect([...w0.data]).toEqual([6, 8, -2, -0]);
    const inferred = fuseWeightNorm({ shape: [2, 1, 1], data: new Float32Array([10, -2]) }, v, undefined);
    expect([...inferred.data]).toEqual([6, 8, -2, -0]);
    const w2 = fuseWeightNorm({ shape: [1, 1, 2], data: new Float32Array([1, 1]) }, v, 2); // norms (√10, 4)
    expect([...w2.data]).toEqual([3 / Math.sqrt(10), 1, 1 / Math.sqrt(10), 0].map(Math.fround));
    const whole = fuseWeightNorm({ shape: [], data: new Float32Array([Math.sqrt(26)]) }, v, -1);
    expect([...whole.data]).toEqual([3, 4, 1, 0]);
    expect(() => fuseWeightNorm({ shape: [3, 1, 1], data: new Float32Array(3) }, v, 0)).toThrow(/does not match/);
  });

  it('fuses weight_g/weight_v pairs in a plain state dict', () => {
    const d = new PyDict('collections.OrderedDict');
    d.set('conv.bias', new TorchTensor([2], new Float32Array([1, 2]), 'float32', 'cpu'));
    d.set('conv.weight_g', new TorchTensor([2, 1, 1], new Float32Array([10, -2]), 'float32', 'cpu'));
    d.set('conv.weight_v', new TorchTensor([2, 1, 2], new Float32Array([3, 4, 1, 0]), 'float32', 'cpu'));
    const sd = extractStateDict(d);
    expect([...sd.keys()]).toEqual(['conv.bias', 'conv.weight']);
    expect([...(sd.get('conv.weight') as TorchTensor).data]).toEqual([6, 8, -2, -0]);
  });
});

describe('refusals and corrupt input', () => {
  const sdFiles = unzipSync(sdBytes);
  const sdPickle = sdFiles['state_dict/data.pkl'];
  const zipped = (pkl: Uint8Array) => zipSync({ 'archive/data.pkl': [pkl, { level: 0 }] });

  it('refuses globals that are not on the allow-list, naming them', () => {
    const osSystem = bytes([0x80, 2], 'cos\nsystem\n', X('echo pwned'), 0x85, 'R.');
    expect(() => unpickle(osSystem)).toThrow(/unsupported pickle global 'os\.system'/);
    expect(() => readTorchPt(zipped(osSystem))).toThrow(/unsupported pickle global 'os\.system'/);
    const stackGlobal = bytes([0x80, 4], [0x8c, 8], 'builtins', [0x8c, 4], 'eval', 0x93, '.');
    expect(() => unpickle(stackGlobal)).toThrow(/unsupported pickle global 'builtins\.eval'/);
    // Module classes outside glow.* / torch.nn.modules.* need an explicit opt-in.
    const mainModule = bytes([0x80, 2], glob('__main__', 'WaveGlow'), ')', 0x81, '.');
    expect(() => readTorchPt(zipped(mainModule))).toThrow(/unsupported pickle global '__main__\.WaveGlow'/);
    expect((readTorchPt(zipped(mainModule), { extraModuleClasses: ['__main__.WaveGlow'] }) as PyObject).className).toBe('__main__.WaveGlow');
    // An allowed tag may still not be called.
    expect(() => unpickle(bytes([0x80, 2], glob('torch', 'FloatStorage'), ')R.'), { resolveGlobal: torchGlobalResolver() })).toThrow(
      /'torch\.FloatStorage' may not be called/,
    );
  });

  it('explains truncated pickles and truncated archives', () => {
    expect(() => readTorchPt(zipped(sdPickle.subarray(0, 100)))).toThrow(/truncated pickle/);
    expect(() => readTorchPt(sdBytes.subarray(0, sdBytes.length >> 1))).toThrow(/cannot read the \.pt zip archive \(truncated or corrupt\?\)/);
    // Every cut point gives a PickleError, never a TypeError or a result.
    for (let cut = 0; cut < sdPickle.length; cut += cut < 300 ? 1 : 53) {
      const files = { ...sdFiles, 'state_dict/data.pkl': sdPickle.subarray(0, cut) };
      expect(() => readTorchFiles(files), `cut at ${cut}`).toThrow(PickleError);
    }
  });

  it('corrupting single bytes gives either a value or a clear error, never a crash', () => {
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    let errors = 0;
    for (let trial = 0; trial < 150; trial++) {
      const pkl = sdPickle.slice();
      pkl[Math.floor(rand() * pkl.length)] = Math.floor(rand() * 256);
      try {
        extractStateDict(readTorchFiles({ ...sdFiles, 'state_dict/data.pkl': pkl }));
      } catch (e) {
        errors++;
        expect(e instanceof PickleError || e instanceof TorchImportError, String(e)).toBe(true);
      }
    }
    expect(errors).toBeGreaterThan(10);
  });

  it('refuses legacy (pre-1.6) files and non-zip input with a clear message', () => {
    const legacy = bytes([0x80, 2, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]);
    expect(() => readTorchPt(legacy)).toThrow(/legacy \(pre-1\.6, non-zip\).*re-save it with a current PyTorch/);
    expect(() => readTorchPt(utf8.encode('hello world'))).toThrow(/not a PyTorch zip archive/);
    expect(() => readTorchPt(zipSync({ 'a/other.txt': utf8.encode('x') }))).toThrow(/no <name>\/data\.pkl/);
  });

  it('refuses content that is not a state dict', () => {
    expect(() => extractStateDict(readTorchPt(zipped(bytes([0x80, 2], ']', K(1), 'a.'))))).toThrow(/holds list; expected a state dict/);
    expect(() => extractStateDict(readTorchPt(zipped(bytes([0x80, 2], '}', X('a'), K(1), 's.'))))).toThrow(
      /not a state dict: entry "a" is number/,
    );
    expect(() => extractStateDict(new PyDict())).toThrow(/no tensors found/);
    const onlyOptimizer = readTorchPt(nvBytes) as PyDict;
    onlyOptimizer.delete('model');
    expect(() => extractStateDict(onlyOptimizer)).toThrow(/keys: iteration, optimizer, learning_rate/);
  });
});
