/**
 * A restricted Python unpickler (protocols 2–5, plus the binary opcodes of protocols 0/1 that
 * protocol-2 writers still emit). It builds plain data and never runs anything: every GLOBAL is
 * looked up in an allow-list supplied by the caller, and an unknown one is an error naming it.
 * Truncated or corrupt input raises a {@link PickleError} that says what is wrong and where.
 *
 * Isomorphic: no Node-only imports.
 */

// ---------------------------------------------------------------------------------------------
// Python values

/** A Python tuple (kept apart from lists: torch uses tuples for shapes, strides and ids). */
export class PyTuple {
  constructor(readonly items: readonly PyValue[]) {}
}

/** A dict or `collections.OrderedDict`; insertion order is kept, as in Python. */
export class PyDict extends Map<PyValue, PyValue> {
  /** State passed to BUILD, e.g. the `_metadata` attribute torch attaches to state dicts. */
  attrs: PyValue = null;
  constructor(readonly className: string = 'dict') {
    super();
  }
}

export class PySet extends Set<PyValue> {
  constructor(
    readonly frozen = false,
    items: Iterable<PyValue> = [],
  ) {
    super(items);
  }
}

/** An instance of an allowed class (a torch module, a hook): inert data, its `__dict__` in `state`. */
export class PyObject {
  state: PyValue = null;
  constructor(
    /** Qualified name, e.g. `glow.WaveGlow`. */
    readonly className: string,
    /** Arguments given to `cls.__new__` (usually none). */
    readonly args: readonly PyValue[] = [],
  ) {}
}

/** A reference to an allowed global (class or function), as pushed by GLOBAL / STACK_GLOBAL. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
    readonly rule: GlobalRule,
  ) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** Base class for values that allow-list rules produce themselves (e.g. torch tensors). */
export abstract class PyNative {
  abstract readonly pyClass: string;
  /** BUILD on this value; refused unless a subclass overrides it. */
  setState(_state: PyValue): void {
    throw new PickleError(`BUILD is not supported on ${this.pyClass}`);
  }
}

export type PyValue =
  | null
  | boolean
  | number
  | bigint // ints beyond ±2^53
  | string
  | Uint8Array // bytes, bytearray
  | PyValue[] // list
  | PyTuple
  | PyDict
  | PySet
  | PyObject
  | PyGlobal
  | PyNative;

// ---------------------------------------------------------------------------------------------
// Allow-list

/** What an allowed global may do. A rule with neither field is a plain tag (e.g. a storage type). */
export interface GlobalRule {
  /** REDUCE: `callable(*args)`. Must build data only. */
  readonly call?: (args: readonly PyValue[], self: PyGlobal) => PyValue;
  /** NEWOBJ / NEWOBJ_EX allowed: makes an inert {@link PyObject} that BUILD then fills. */
  readonly newObject?: boolean;
}

export type GlobalResolver = (module: string, name: string) => GlobalRule | undefined;

/** An inert class: NEWOBJ gives a PyObject, BUILD stores its `__dict__`. */
export const OBJECT_RULE: GlobalRule = { newObject: true };

function orderedDict(args: readonly PyValue[], self: PyGlobal): PyDict {
  const d = new PyDict(self.qualifiedName);
  // Protocol 0/1 writers pass the items as a list of pairs; protocol 2+ uses SETITEMS instead.
  const items = args[0];
  if (Array.isArray(items)) {
    for (const pair of items) {
      if (!(pair instanceof PyTuple) || pair.items.length !== 2) throw new PickleError('OrderedDict items must be pairs');
      d.set(pair.items[0], pair.items[1]);
    }
  }
  return d;
}

function makeSet(frozen: boolean) {
  return (args: readonly PyValue[]): PySet => {
    const s = new PySet(frozen);
    const items = args[0] ?? [];
    const list = items instanceof PyTuple ? items.items : items;
    if (!Array.isArray(list)) throw new PickleError('set() argument must be a list or tuple');
    for (const v of list) s.add(v);
    return s;
  };
}

/** Protocol 2 writes Python-3 `bytes` as `_codecs.encode(str, 'latin1')`. */
function codecsEncode(args: readonly PyValue[]): Uint8Array {
  const [text, encoding] = args;
  if (typeof text !== 'string' || (encoding !== 'latin1' && encoding !== 'latin-1')) {
    throw new PickleError(`_codecs.encode: only (str, 'latin1') is supported`);
  }
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}

/** Harmless Python built-ins that torch pickles use. Python 2 spells `builtins` `__builtin__`. */
export const STANDARD_GLOBALS: Readonly<Record<string, GlobalRule>> = {
  'collections.OrderedDict': { call: orderedDict },
  'builtins.set': { call: makeSet(false) },
  '__builtin__.set': { call: makeSet(false) },
  'builtins.frozenset': { call: makeSet(true) },
  '__builtin__.frozenset': { call: makeSet(true) },
  '_codecs.encode': { call: codecsEncode },
};

// ---------------------------------------------------------------------------------------------
// Opcodes (pickletools names). Anything not listed here is rejected by name.

export const OP = {
  // protocol 0/1 (binary forms only)
  MARK: 0x28, // (
  STOP: 0x2e, // .
  POP: 0x30, // 0
  POP_MARK: 0x31, // 1
  DUP: 0x32, // 2
  BINFLOAT: 0x47, // G  8-byte big-endian double
  BININT: 0x4a, // J  int32 LE
  BININT1: 0x4b, // K  uint8
  BININT2: 0x4d, // M  uint16 LE
  NONE: 0x4e, // N
  BINPERSID: 0x51, // Q
  REDUCE: 0x52, // R
  BINSTRING: 0x54, // T  (Python 2 str, read as latin-1)
  SHORT_BINSTRING: 0x55, // U
  BINUNICODE: 0x58, // X
  EMPTY_LIST: 0x5d, // ]
  APPEND: 0x61, // a
  BUILD: 0x62, // b
  GLOBAL: 0x63, // c  "module\nname\n"
  DICT: 0x64, // d
  APPENDS: 0x65, // e
  BINGET: 0x68, // h
  LONG_BINGET: 0x6a, // j
  LIST: 0x6c, // l
  BINPUT: 0x71, // q
  LONG_BINPUT: 0x72, // r
  SETITEM: 0x73, // s
  TUPLE: 0x74, // t
  SETITEMS: 0x75, // u
  EMPTY_DICT: 0x7d, // }
  EMPTY_TUPLE: 0x29, // )
  // protocol 2
  PROTO: 0x80,
  NEWOBJ: 0x81,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  LONG1: 0x8a,
  LONG4: 0x8b,
  // protocol 3
  BINBYTES: 0x42, // B
  SHORT_BINBYTES: 0x43, // C
  // protocol 4
  SHORT_BINUNICODE: 0x8c,
  BINUNICODE8: 0x8d,
  BINBYTES8: 0x8e,
  EMPTY_SET: 0x8f,
  ADDITEMS: 0x90,
  FROZENSET: 0x91,
  NEWOBJ_EX: 0x92,
  STACK_GLOBAL: 0x93,
  MEMOIZE: 0x94,
  FRAME: 0x95,
  // protocol 5
  BYTEARRAY8: 0x96,
  NEXT_BUFFER: 0x97, // out-of-band buffers: rejected
  READONLY_BUFFER: 0x98,
} as const;

const OP_NAMES = new Map<number, string>(Object.entries(OP).map(([k, v]) => [v, k]));

function opName(code: number): string {
  const hex = `0x${code.toString(16).padStart(2, '0')}`;
  const name = OP_NAMES.get(code);
  if (name) return `${name} (${hex})`;
  const ch = code >= 0x20 && code < 0x7f ? ` '${String.fromCharCode(code)}'` : '';
  return `${hex}${ch}`;
}

// ---------------------------------------------------------------------------------------------
// Unpickler

export class PickleError extends Error {
  override name = 'PickleError';
}

export interface UnpickleOptions {
  /** The allow-list. Default: {@link STANDARD_GLOBALS} only. */
  resolveGlobal?: GlobalResolver;
  /** Resolves BINPERSID ids (torch: storages). Default: persistent ids are an error. */
  persistentLoad?: (pid: PyValue) => PyValue;
}

const MARK_SENTINEL = Symbol('mark');
const utf8 = new TextDecoder('utf-8');

export function describePy(v: PyValue): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'list';
  if (v instanceof Uint8Array) return 'bytes';
  if (v instanceof PyTuple) return 'tuple';
  if (v instanceof PyDict) return v.className;
  if (v instanceof PySet) return v.frozen ? 'frozenset' : 'set';
  if (v instanceof PyObject) return `${v.className} object`;
  if (v instanceof PyGlobal) return `global ${v.qualifiedName}`;
  if (v instanceof PyNative) return v.pyClass;
  return typeof v;
}

/** Decode one pickle. Throws {@link PickleError} on anything unsupported, truncated or corrupt. */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions = {}): PyValue {
  const resolveGlobal: GlobalResolver =
    options.resolveGlobal ?? ((m, n) => (Object.hasOwn(STANDARD_GLOBALS, `${m}.${n}`) ? STANDARD_GLOBALS[`${m}.${n}`] : undefined));
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  let opStart = 0;
  let op = 0;

  // A declaration (not an arrow) so that the compiler knows it never returns.
  function fail(msg: string): never {
    throw new PickleError(`corrupt pickle at byte ${opStart} (${opName(op)}): ${msg}`);
  }
  const need = (n: number): number => {
    if (!Number.isSafeInteger(n) || n < 0) fail(`invalid length ${n}`);
    if (pos + n > bytes.length) {
      throw new PickleError(
        `truncated pickle: ${opName(op)} at byte ${opStart} needs ${n} more byte(s), only ${bytes.length - pos} left`,
      );
    }
    const at = pos;
    pos += n;
    return at;
  };
  const u8 = () => bytes[need(1)];
  const u16 = () => dv.getUint16(need(2), true);
  const i32 = () => dv.getInt32(need(4), true);
  const u32 = () => dv.getUint32(need(4), true);
  const u64 = () => {
    const v = dv.getBigUint64(need(8), true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`length ${v} is absurd`);
    return Number(v);
  };
  const raw = (n: number) => {
    const at = need(n);
    return bytes.subarray(at, at + n);
  };
  const latin1 = (b: Uint8Array) => {
    let s = '';
    for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
    return s;
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) throw new PickleError(`truncated pickle: ${opName(op)} at byte ${opStart} has no terminating newline`);
    const s = latin1(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  // Two's-complement little-endian integer (LONG1/LONG4); a number when it fits exactly.
  const long = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  // Stack with marks kept as in CPython: MARK pushes the current list and starts a new one.
  let stack: PyValue[] = [];
  const metastack: PyValue[][] = [];
  const memo = new Map<number, PyValue>();

  const pop = (): PyValue => {
    if (stack.length === 0) fail('stack underflow');
    return stack.pop() as PyValue;
  };
  const top = (): PyValue => {
    if (stack.length === 0) fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): PyValue[] => {
    const items = stack;
    const prev = metastack.pop();
    if (!prev) fail(`no MARK on the stack`);
    stack = prev;
    return items;
  };
  const getMemo = (key: number): void => {
    if (!memo.has(key)) fail(`memo key ${key} was never stored`);
    stack.push(memo.get(key) as PyValue);
  };
  const putMemo = (key: number): void => {
    memo.set(key, top());
  };
  const str = (v: PyValue, what: string): string => (typeof v === 'string' ? v : fail(`${what} must be a str, got ${describePy(v)}`));
  const tupleItems = (v: PyValue, what: string): readonly PyValue[] =>
    v instanceof PyTuple ? v.items : fail(`${what} must be a tuple, got ${describePy(v)}`);

  const findGlobal = (module: string, name: string): PyGlobal => {
    const rule = resolveGlobal(module, name);
    if (!rule) {
      throw new PickleError(
        `unsupported pickle global '${module}.${name}': not on the allow-list (a pickle can name any Python callable, so unknown ones are refused, never run)`,
      );
    }
    return new PyGlobal(module, name, rule);
  };
  const newObject = (cls: PyValue, args: readonly PyValue[]): PyObject => {
    if (!(cls instanceof PyGlobal)) fail(`cannot instantiate ${describePy(cls)}`);
    if (!cls.rule.newObject) fail(`global '${cls.qualifiedName}' may not be instantiated`);
    return new PyObject(cls.qualifiedName, args);
  };
  const setItems = (target: PyValue, items: PyValue[]): void => {
    if (!(target instanceof PyDict)) fail(`cannot set items on ${describePy(target)}`);
    if (items.length % 2) fail('odd number of items for SETITEMS');
    for (let i = 0; i < items.length; i += 2) target.set(items[i], items[i + 1]);
  };
  const appendItems = (target: PyValue, items: PyValue[]): void => {
    if (!Array.isArray(target)) fail(`cannot append to ${describePy(target)}`);
    for (const it of items) target.push(it);
  };
  const build = (obj: PyValue, state: PyValue): void => {
    if (obj instanceof PyObject) {
      // Default __setstate__: update __dict__ (state may be a dict, or a (dict, slots) pair).
      if (obj.state instanceof PyDict && state instanceof PyDict) for (const [k, v] of state) obj.state.set(k, v);
      else obj.state = state;
    } else if (obj instanceof PyDict) {
      obj.attrs = state;
    } else if (obj instanceof PyNative) {
      obj.setState(state);
    } else {
      fail(`BUILD on ${describePy(obj)} is not supported`);
    }
  };

  for (;;) {
    opStart = pos;
    if (pos >= bytes.length) {
      throw new PickleError(`truncated pickle: ended at byte ${pos} without a STOP opcode`);
    }
    op = bytes[pos++];
    switch (op) {
      case OP.PROTO: {
        const proto = u8();
        if (proto > 5) fail(`unsupported pickle protocol ${proto}`);
        break;
      }
      case OP.FRAME: {
        const n = u64();
        if (pos + n > bytes.length) {
          throw new PickleError(`truncated pickle: frame of ${n} bytes at byte ${opStart}, only ${bytes.length - pos} left`);
        }
        break;
      }
      case OP.STOP:
        return pop();

      // marks and stack
      case OP.MARK:
        metastack.push(stack);
        stack = [];
        break;
      case OP.POP:
        if (stack.length) stack.pop();
        else popMark();
        break;
      case OP.POP_MARK:
        popMark();
        break;
      case OP.DUP:
        stack.push(top());
        break;

      // scalars
      case OP.NONE:
        stack.push(null);
        break;
      case OP.NEWTRUE:
        stack.push(true);
        break;
      case OP.NEWFALSE:
        stack.push(false);
        break;
      case OP.BININT:
        stack.push(i32());
        break;
      case OP.BININT1:
        stack.push(u8());
        break;
      case OP.BININT2:
        stack.push(u16());
        break;
      case OP.LONG1:
        stack.push(long(raw(u8())));
        break;
      case OP.LONG4: {
        const n = i32();
        if (n < 0) fail('negative LONG4 length');
        stack.push(long(raw(n)));
        break;
      }
      case OP.BINFLOAT:
        stack.push(dv.getFloat64(need(8), false));
        break;

      // strings and bytes
      case OP.SHORT_BINUNICODE:
        stack.push(utf8.decode(raw(u8())));
        break;
      case OP.BINUNICODE:
        stack.push(utf8.decode(raw(u32())));
        break;
      case OP.BINUNICODE8:
        stack.push(utf8.decode(raw(u64())));
        break;
      case OP.SHORT_BINSTRING:
        stack.push(latin1(raw(u8())));
        break;
      case OP.BINSTRING: {
        const n = i32();
        if (n < 0) fail('negative BINSTRING length');
        stack.push(latin1(raw(n)));
        break;
      }
      case OP.SHORT_BINBYTES:
        stack.push(raw(u8()).slice());
        break;
      case OP.BINBYTES:
        stack.push(raw(u32()).slice());
        break;
      case OP.BINBYTES8:
      case OP.BYTEARRAY8:
        stack.push(raw(u64()).slice());
        break;
      case OP.READONLY_BUFFER:
        top(); // a no-op on in-band data
        break;

      // containers
      case OP.EMPTY_TUPLE:
        stack.push(new PyTuple([]));
        break;
      case OP.TUPLE1: {
        const a = pop();
        stack.push(new PyTuple([a]));
        break;
      }
      case OP.TUPLE2: {
        const b = pop();
        const a = pop();
        stack.push(new PyTuple([a, b]));
        break;
      }
      case OP.TUPLE3: {
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push(new PyTuple([a, b, c]));
        break;
      }
      case OP.TUPLE: {
        const items = popMark(); // before touching `stack`: popMark replaces it
        stack.push(new PyTuple(items));
        break;
      }
      case OP.EMPTY_LIST:
        stack.push([]);
        break;
      case OP.LIST: {
        const items = popMark();
        stack.push(items);
        break;
      }
      case OP.APPEND: {
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case OP.APPENDS: {
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case OP.EMPTY_DICT:
        stack.push(new PyDict());
        break;
      case OP.DICT: {
        const d = new PyDict();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case OP.SETITEM: {
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case OP.SETITEMS: {
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case OP.EMPTY_SET:
        stack.push(new PySet());
        break;
      case OP.ADDITEMS: {
        const items = popMark();
        const s = top();
        if (!(s instanceof PySet) || s.frozen) fail(`cannot add items to ${describePy(s)}`);
        for (const it of items) s.add(it);
        break;
      }
      case OP.FROZENSET: {
        const items = popMark();
        stack.push(new PySet(true, items));
        break;
      }

      // memo
      case OP.BINPUT:
        putMemo(u8());
        break;
      case OP.LONG_BINPUT:
        putMemo(u32());
        break;
      case OP.MEMOIZE:
        putMemo(memo.size);
        break;
      case OP.BINGET:
        getMemo(u8());
        break;
      case OP.LONG_BINGET:
        getMemo(u32());
        break;

      // objects: only through the allow-list
      case OP.GLOBAL: {
        const module = line();
        const name = line();
        stack.push(findGlobal(module, name));
        break;
      }
      case OP.STACK_GLOBAL: {
        const name = str(pop(), 'STACK_GLOBAL name');
        const module = str(pop(), 'STACK_GLOBAL module');
        stack.push(findGlobal(module, name));
        break;
      }
      case OP.REDUCE: {
        const args = tupleItems(pop(), 'REDUCE arguments');
        const fn = pop();
        if (!(fn instanceof PyGlobal)) fail(`cannot call ${describePy(fn)}`);
        if (!fn.rule.call) fail(`global '${fn.qualifiedName}' may not be called`);
        stack.push(fn.rule.call(args, fn));
        break;
      }
      case OP.NEWOBJ: {
        const args = tupleItems(pop(), 'NEWOBJ arguments');
        stack.push(newObject(pop(), args));
        break;
      }
      case OP.NEWOBJ_EX: {
        const kwargs = pop();
        const args = tupleItems(pop(), 'NEWOBJ_EX arguments');
        if (!(kwargs instanceof PyDict) || kwargs.size) fail('NEWOBJ_EX with keyword arguments is not supported');
        stack.push(newObject(pop(), args));
        break;
      }
      case OP.BUILD: {
        const state = pop();
        build(top(), state);
        break;
      }
      case OP.BINPERSID: {
        const pid = pop();
        if (!options.persistentLoad) fail('persistent id found but no persistent loader given');
        stack.push(options.persistentLoad(pid));
        break;
      }
      case OP.NEXT_BUFFER:
        fail('out-of-band buffers (protocol 5 NEXT_BUFFER) are not supported');
        break;
      default:
        fail(`unsupported or invalid opcode`);
    }
  }
}
