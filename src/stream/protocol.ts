/**
 * The flowvox streaming wire format — the only module that speaks it. Isomorphic (no Node
 * imports): the server, the browser player and the Node player all import this file.
 *
 * One WebSocket per client at `ws://HOST:PORT/ws` (same port as the static files).
 *
 * Connection
 *   - Auth (only when the server runs with --token): pass `?token=T` in the URL, or send
 *     `{"type":"auth","token":T}` as the very first message. The server sends nothing before a
 *     successful auth; a wrong/missing first-message token gets `error` code 'unauthorized' and
 *     close 1008; a wrong `?token=` is refused at the HTTP upgrade (401).
 *   - Origin: browsers' Origin header must be on the server's allow-list (default: the server's
 *     own host and localhost/127.0.0.1 on any port); others are refused at the HTTP upgrade (403).
 *     Clients that send no Origin (Node) are allowed.
 *   - The server then sends `hello` (model, sample rate, the bundled samples, the limits).
 *
 * Control messages are JSON text frames, each an object with a `type` field.
 *   client → server: start, cancel, ping, auth, score-start, score-end
 *   server → client: hello, accepted, done, cancelled, error, busy, pong, score-accepted, score, score-done
 *
 * Uploads: a `start` whose source is {kind:'wav'|'npy', bytes: N} must be followed immediately by
 * ONE binary message of exactly N bytes holding the file (N ≤ limits.maxUploadBytes). No other
 * message may come in between; any other binary message must be a scoring chunk (below), else it is
 * an error ('unexpected_binary').
 * If the server refuses such a start (`error`/`busy`), it still reads and drops the upload that
 * follows. Binary rather than base64: no 33 % inflation and no giant JSON strings to parse.
 *
 * A stream: start → (upload) → `accepted` (after the input is validated; or `error`/`busy` with
 * the id) → audio frames → `done` with stats. Over capacity (one synthesising stream per worker
 * plus a short queue; queued streams get `accepted` with queuePosition > 0) the answer is `busy`.
 *
 * Audio: binary frames server → client, AUDIO_HEADER_BYTES of little-endian header, then
 * `sampleCount` float32 little-endian PCM samples (mono, [−1, 1] nominal):
 *
 *   offset size field
 *        0    4 magic        'FVOX' (bytes 0x46 0x56 0x4f 0x58)
 *        4    1 version      AUDIO_FRAME_VERSION (1)
 *        5    1 flags        bit 0: last frame of the stream
 *        6    2 headerBytes  32 (readers skip this many bytes: room to grow)
 *        8    4 streamId     uint32, the client's `start.id`
 *       12    4 seq          uint32, 0, 1, 2, … per stream
 *       16    4 sampleRate   uint32 (Hz)
 *       20    4 sampleOffset uint32, index of the first sample in the utterance
 *       24    4 sampleCount  uint32
 *       28    4 reserved     0
 *       32      float32 × sampleCount
 *
 * Frames of one stream arrive in order and tile [0, totalSamples) without gaps or overlaps; the
 * concatenation equals whole-utterance synthesis with the same seed (seamless chunking). After the
 * last frame the server sends `done` (or `cancelled` / `error` with the stream id).
 *
 * Scoring streams (live anomaly detection by likelihood, src/anomaly/stream-scorer.ts): the same
 * socket carries audio the other way.
 *   client: `score-start` {id, sampleRate, score?}
 *   server: `score-accepted` {id, segment, hop, scoreName, threshold|null, …} (or `error`/`busy`)
 *   client: binary chunks in the audio frame format above (streamId = the id, seq 0, 1, 2, …,
 *           sampleRate = score-start's, sampleOffset = input samples sent before this chunk mod
 *           2^32, at most limits.maxScoreChunkSamples samples, finite values), then `score-end`
 *           {id} (or the `last` flag on the final chunk)
 *   server: one `score` {id, index, start, end, score, scores, flagged} per segment, in order, as
 *           soon as the audio it needs (the segment plus ~23 ms of context) is in; after the end,
 *           the tail segments, then `score-done`.
 * Segments and scores equal `flowvox score` on the whole recording (segments planned the same,
 * scores bit-identical; input at another rate is resampled on the server as it arrives).
 * A stream may run forever (a microphone): the server keeps only the audio the next segments
 * need. If audio arrives faster than it is scored and more than limits.maxScoreBacklogSeconds
 * wait, the stream fails with 'overrun' (file senders: keep at most a few seconds unscored).
 * `cancel` {id} stops a scoring stream too. Any bad chunk (NaN/Inf, wrong rate, a gap or repeat in
 * seq/sampleOffset, over the size limit) ends its stream with an `error` ('bad_audio' or
 * 'too_large') naming the id; later chunks of that id are dropped silently.
 *
 * Close codes used by the server: 1008 policy (unauthorized), 1009 message too big (over
 * limits.maxMessageBytes, enforced by the WebSocket layer), 1001 server shutting down.
 */

/** Version of the control messages and of the audio frame header. */
export const PROTOCOL_VERSION = 1;
/** The WebSocket endpoint's path. */
export const WS_PATH = '/ws';

export const AUDIO_MAGIC = 0x584f5646; // 'FVOX' read as a little-endian uint32
export const AUDIO_FRAME_VERSION = 1;
export const AUDIO_HEADER_BYTES = 32;
/** Flag bit: this frame is the stream's last. */
export const AUDIO_FLAG_LAST = 1;

/** Stream ids are client-chosen integers in [0, MAX_STREAM_ID]. */
export const MAX_STREAM_ID = 0x7fffffff;
/** Largest JSON control message the server parses (bytes of UTF-8). */
export const MAX_CONTROL_BYTES = 64 * 1024;

/** Default limits; the server reports its actual ones in `hello.limits`. */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxMessageBytes: 8 * 1024 * 1024,
  maxUploadBytes: 8 * 1024 * 1024 - 1024,
  maxFrames: 60 * 87, // about a minute at 22050 Hz / 256
  maxChunkFrames: 1024,
  maxStreamsPerConnection: 2,
  maxMessagesPerSecond: 20,
  maxScoreChunkSamples: 96_000,
  maxScoreBacklogSeconds: 30,
  maxScoreChunksPerSecond: 100,
});

/** Input rates a scoring stream may use (Hz); other rates than the model's are resampled. */
export const MIN_SCORE_RATE = 8000;
export const MAX_SCORE_RATE = 192_000;

/**
 * Scores a scoring stream can report (higher = more anomalous; see src/anomaly/scorer.ts). Kept
 * here as plain strings so the page bundle does not pull in the scorer; a test checks they agree.
 */
export const SCORE_NAMES = ['lr', 'nll', 'typicality', 'complexity', 'features', 'combined'] as const;
export type ScoreName = (typeof SCORE_NAMES)[number];

export interface Limits {
  /** WebSocket maxPayload: larger messages close the socket with 1009. */
  maxMessageBytes: number;
  /** Largest WAV / .npy upload. */
  maxUploadBytes: number;
  /** Longest mel accepted (frames). */
  maxFrames: number;
  /** Largest `start.chunkFrames`. */
  maxChunkFrames: number;
  /** Streams one connection may have running at once. */
  maxStreamsPerConnection: number;
  /** Control messages per second per connection (averaged over a short burst window). */
  maxMessagesPerSecond: number;
  /** Largest scoring chunk (samples at its own rate). */
  maxScoreChunkSamples: number;
  /** Audio that may wait to be scored before a scoring stream fails with 'overrun' (seconds). */
  maxScoreBacklogSeconds: number;
  /** Scoring chunks per second per connection (a burst of twice this is allowed). */
  maxScoreChunksPerSecond: number;
}

// ───────────────────────────── client → server ─────────────────────────────

/** What to vocode: a sample the server lists in `hello.samples`, or an upload that follows. */
export type Source =
  | { kind: 'sample'; sampleId: string }
  /** A WAV file (any rate/channels the server's decoder reads; resampled, mixed to mono): copy-synthesis through its mel. */
  | { kind: 'wav'; bytes: number }
  /** A mel spectrogram .npy, [n_mel, T] or [1, n_mel, T] (tacotron2 layout) or [T, n_mel]; finite values. */
  | { kind: 'npy'; bytes: number };

export interface StartMessage {
  type: 'start';
  /** Client-chosen stream id, unique among this connection's running streams. */
  id: number;
  source: Source;
  /** Latent scale σ (default 0.6), in [0, 2]. */
  sigma?: number;
  /** Denoiser strength (default 0 = off), in [0, 1]. */
  denoise?: number;
  /** Output frames per chunk (default: the server's choice), in [1, limits.maxChunkFrames]. */
  chunkFrames?: number;
  /** Seed of the whole-utterance latent (default: random; reported in `accepted`). uint32. */
  seed?: number;
}

/** Stops a stream: pending chunks are dropped; the server answers `cancelled`. */
export interface CancelMessage {
  type: 'cancel';
  id: number;
}

/** Echoed as `pong` with the same `t` (e.g. the client's clock, for round-trip time). */
export interface PingMessage {
  type: 'ping';
  t: number;
}

/** The shared secret, as the first message (alternative to the `?token=` query parameter). */
export interface AuthMessage {
  type: 'auth';
  token: string;
}

/** Opens a scoring stream; binary chunks and `score-end` follow. */
export interface ScoreStartMessage {
  type: 'score-start';
  /** Client-chosen stream id, unique among this connection's running streams (of either kind). */
  id: number;
  /** Rate of the chunks that follow (integer Hz in [MIN_SCORE_RATE, MAX_SCORE_RATE]). */
  sampleRate: number;
  /** The score that decides `flagged` (default: the calibration's default, else 'lr'). */
  score?: ScoreName;
}

/** No more chunks: the server scores the tail segments and answers `score-done`. */
export interface ScoreEndMessage {
  type: 'score-end';
  id: number;
}

export type ClientMessage = StartMessage | CancelMessage | PingMessage | AuthMessage | ScoreStartMessage | ScoreEndMessage;

// ───────────────────────────── server → client ─────────────────────────────

/** A bundled sample (from audio/index.json); file paths are URLs on the same server. */
export interface SampleInfo {
  id: string;
  seconds: number;
  lang?: string | null;
  text?: string | null;
  /** e.g. {original: '/audio/x.wav', mel: '/audio/x.npy', copy: '/audio/x.copy.wav', spectrogram: '/audio/x.png'} */
  files?: Record<string, string>;
}

export interface ModelInfo {
  /** Directory name or 'fallback (…)'. */
  name: string;
  /** Where the weights came from (config.json `source`), if known. */
  source: string | null;
  nMelChannels: number;
  nGroup: number;
  nFlows: number;
  upsampler: 'convtranspose' | 'frames';
  /** Mel frames of context each chunk needs on each side (receptive field, see planner.ts). */
  contextFrames: number;
  /** Iterations of mel-envelope matching after synthesis (the model's setting; 0: none). */
  envelopeIterations?: number;
}

export interface HelloMessage {
  type: 'hello';
  version: number;
  sampleRate: number;
  /** Samples per mel frame. */
  hop: number;
  model: ModelInfo;
  samples: SampleInfo[];
  limits: Limits;
  /** chunkFrames used when `start` gives none. */
  defaultChunkFrames: number;
  workers: number;
  /** What scoring streams offer here (absent from servers without them). */
  anomaly?: {
    /** A calibration is loaded: thresholds (so `flagged`) and the typicality/feature scores. */
    calibrated: boolean;
    scores: ScoreName[];
    defaultScore: ScoreName;
    /** Segment and hop in seconds, before snapping to the frame grid. */
    segment: number;
    hop: number;
  };
}

/** A mel for display: `columns` × `bands`, row-major (column c = frames ⌊c·frames/columns⌋ …). */
export interface DisplayMel {
  columns: number;
  bands: number;
  /** Range of the values, for a colour scale. */
  min: number;
  max: number;
  /** columns·bands values, data[c·bands + b], rounded to 0.01. */
  data: number[];
}

export interface AcceptedMessage {
  type: 'accepted';
  id: number;
  sampleRate: number;
  totalSamples: number;
  /** Mel frames (totalSamples = frames · hop). */
  frames: number;
  /** Number of audio frames (chunks) that will follow. */
  chunks: number;
  chunkFrames: number;
  sigma: number;
  denoise: number;
  seed: number;
  /** > 0 when the stream waits for a worker behind others (it will still run). */
  queuePosition: number;
  mel: DisplayMel;
}

export interface StreamStats {
  /** ms from receiving `start` (after the upload) to sending the first audio frame. */
  timeToFirstAudioMs: number;
  /** Audio seconds per wall-clock second, from `start` to the last frame. */
  xRealTime: number;
  chunks: number;
  samples: number;
  /** Audio seconds. */
  seconds: number;
  /** Wall-clock ms from `start` to the last frame. */
  wallMs: number;
  /** Sum of the workers' compute time for this stream's chunks (ms). */
  computeMs: number;
  /** Times the stream paused for a slow reader (backpressure). */
  pauses: number;
}

export interface DoneMessage {
  type: 'done';
  id: number;
  stats: StreamStats;
}

export interface CancelledMessage {
  type: 'cancelled';
  id: number;
  /** 'client' (a `cancel`) or 'server' (shutdown). */
  reason: 'client' | 'server';
}

export interface ScoreAcceptedMessage {
  type: 'score-accepted';
  id: number;
  /** The chunks' rate, and the model's (chunks are resampled when they differ). */
  inputRate: number;
  sampleRate: number;
  /** Segment length and hop as scored (seconds, snapped to the model's frame grid). */
  segment: number;
  hop: number;
  scoreName: ScoreName;
  /** Segments scoring above this are flagged; null without a calibration. */
  threshold: number | null;
  /** The server has a calibration for this model (typicality scores, thresholds). */
  calibrated: boolean;
  /** The scores each `score` message carries. */
  scores: ScoreName[];
  /** Unscored audio allowed before 'overrun' (seconds). */
  maxBacklogSeconds: number;
}

/** One segment's scores (segments arrive in order; they overlap when hop < segment). */
export interface ScoreMessage {
  type: 'score';
  id: number;
  /** 0, 1, 2, … */
  index: number;
  /** Seconds from the stream's first sample. */
  start: number;
  end: number;
  /** The value of `scoreName`. */
  score: number;
  scores: Partial<Record<ScoreName, number>>;
  /** score > threshold (false without a threshold). */
  flagged: boolean;
}

export interface ScoreDoneMessage {
  type: 'score-done';
  id: number;
  segments: number;
  flagged: number;
  /** Audio seconds received (at the model rate). */
  seconds: number;
}

export type ErrorCode =
  | 'bad_json' // not JSON, or not an object
  | 'unknown_type' // `type` missing or not a known message
  | 'missing_field'
  | 'bad_field' // wrong type or out of range
  | 'too_large' // a control message, upload or mel over the limits
  | 'bad_wav' // upload does not decode
  | 'bad_npy' // not a .npy, wrong mel shape, NaN/Inf
  | 'unknown_sample'
  | 'duplicate_id' // a running stream of this connection has this id
  | 'unknown_stream' // cancel of an id that is not running
  | 'unexpected_binary' // binary message when no upload was announced
  | 'upload_mismatch' // upload size differs from source.bytes, or a text message came instead
  | 'too_many_streams' // over limits.maxStreamsPerConnection
  | 'rate_limited' // over limits.maxMessagesPerSecond
  | 'unauthorized'
  | 'bad_audio' // a scoring chunk with NaN/Inf, another rate, a gap or repeat, or too short a stream
  | 'overrun' // a scoring stream's unscored audio went over limits.maxScoreBacklogSeconds
  | 'internal';

export interface ErrorMessage {
  type: 'error';
  /** The stream concerned, when there is one. */
  id?: number;
  code: ErrorCode;
  message: string;
}

/** The server is at capacity: retry this `start` after `retryAfterMs`. */
export interface BusyMessage {
  type: 'busy';
  id: number;
  retryAfterMs: number;
  message: string;
}

export interface PongMessage {
  type: 'pong';
  t: number;
  /** Server clock (ms since the epoch). */
  serverTime: number;
}

export type ServerMessage =
  | HelloMessage | AcceptedMessage | DoneMessage | CancelledMessage | ErrorMessage | BusyMessage | PongMessage
  | ScoreAcceptedMessage | ScoreMessage | ScoreDoneMessage;

// ───────────────────────────── errors and validation ─────────────────────────────

/** Malformed input, with the code to report. */
export class ProtocolError extends Error {
  constructor(readonly code: ErrorCode | 'bad_frame', message: string, readonly id?: number) {
    super(message);
    this.name = 'ProtocolError';
  }
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function field(o: Obj, key: string, id?: number): unknown {
  if (!(key in o) || o[key] === undefined) throw new ProtocolError('missing_field', `"${String(o.type)}" needs "${key}"`, id);
  return o[key];
}

function int(v: unknown, name: string, min: number, max: number, id?: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ProtocolError('bad_field', `"${name}" must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`, id);
  }
  return v;
}

function optNum(o: Obj, name: string, min: number, max: number, id: number): number | undefined {
  const v = o[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new ProtocolError('bad_field', `"${name}" must be a number in [${min}, ${max}], got ${JSON.stringify(v)}`, id);
  }
  return v;
}

function parseSource(v: unknown, id: number, limits: Limits): Source {
  if (!isObj(v)) throw new ProtocolError('bad_field', '"source" must be an object {kind, …}', id);
  const kind = field(v, 'kind', id);
  if (kind === 'sample') {
    const sampleId = field(v, 'sampleId', id);
    if (typeof sampleId !== 'string' || sampleId.length === 0 || sampleId.length > 200) throw new ProtocolError('bad_field', '"sampleId" must be a non-empty string', id);
    return { kind, sampleId };
  }
  if (kind === 'wav' || kind === 'npy') {
    const bytes = field(v, 'bytes', id);
    if (typeof bytes === 'number' && Number.isInteger(bytes) && bytes > limits.maxUploadBytes) {
      throw new ProtocolError('too_large', `upload of ${bytes} bytes is over the limit of ${limits.maxUploadBytes}`, id);
    }
    return { kind, bytes: int(bytes, 'source.bytes', 1, limits.maxUploadBytes, id) };
  }
  throw new ProtocolError('bad_field', `"source.kind" must be 'sample', 'wav' or 'npy', got ${JSON.stringify(kind)}`, id);
}

/**
 * Parses and validates one client text message. Throws ProtocolError (with the stream id when
 * known) for anything malformed; never returns a partially checked object.
 */
export function parseClientMessage(text: string, limits: Limits = DEFAULT_LIMITS): ClientMessage {
  if (text.length > MAX_CONTROL_BYTES) throw new ProtocolError('too_large', `control message of ${text.length} characters is over the limit of ${MAX_CONTROL_BYTES}`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ProtocolError('bad_json', `message is not JSON: ${(e as Error).message}`);
  }
  if (!isObj(v)) throw new ProtocolError('bad_json', 'message must be a JSON object with a "type"');
  switch (v.type) {
    case 'start': {
      const id = int(field(v, 'id'), 'id', 0, MAX_STREAM_ID);
      const source = parseSource(field(v, 'source', id), id, limits);
      const msg: StartMessage = { type: 'start', id, source };
      const sigma = optNum(v, 'sigma', 0, 2, id);
      const denoise = optNum(v, 'denoise', 0, 1, id);
      const seed = v.seed === undefined || v.seed === null ? undefined : int(v.seed, 'seed', 0, 0xffffffff, id);
      const chunkFrames = v.chunkFrames === undefined || v.chunkFrames === null ? undefined : int(v.chunkFrames, 'chunkFrames', 1, limits.maxChunkFrames, id);
      if (sigma !== undefined) msg.sigma = sigma;
      if (denoise !== undefined) msg.denoise = denoise;
      if (seed !== undefined) msg.seed = seed;
      if (chunkFrames !== undefined) msg.chunkFrames = chunkFrames;
      return msg;
    }
    case 'cancel':
      return { type: 'cancel', id: int(field(v, 'id'), 'id', 0, MAX_STREAM_ID) };
    case 'ping': {
      const t = field(v, 't');
      if (typeof t !== 'number' || !Number.isFinite(t)) throw new ProtocolError('bad_field', '"t" must be a finite number');
      return { type: 'ping', t };
    }
    case 'auth': {
      const token = field(v, 'token');
      if (typeof token !== 'string') throw new ProtocolError('bad_field', '"token" must be a string');
      return { type: 'auth', token };
    }
    case 'score-start': {
      const id = int(field(v, 'id'), 'id', 0, MAX_STREAM_ID);
      const sampleRate = int(field(v, 'sampleRate', id), 'sampleRate', MIN_SCORE_RATE, MAX_SCORE_RATE, id);
      const msg: ScoreStartMessage = { type: 'score-start', id, sampleRate };
      if (v.score !== undefined && v.score !== null) {
        if (typeof v.score !== 'string' || !(SCORE_NAMES as readonly string[]).includes(v.score)) {
          throw new ProtocolError('bad_field', `"score" must be one of ${SCORE_NAMES.join(', ')}, got ${JSON.stringify(v.score)}`, id);
        }
        msg.score = v.score as ScoreName;
      }
      return msg;
    }
    case 'score-end':
      return { type: 'score-end', id: int(field(v, 'id'), 'id', 0, MAX_STREAM_ID) };
    default:
      throw new ProtocolError('unknown_type', v.type === undefined ? 'message has no "type"' : `unknown message type ${JSON.stringify(v.type)}; expected start, cancel, ping, auth, score-start or score-end`);
  }
}

const SERVER_TYPES = new Set<ServerMessage['type']>(['hello', 'accepted', 'done', 'cancelled', 'error', 'busy', 'pong', 'score-accepted', 'score', 'score-done']);

/**
 * Parses a server text message (for clients). Checks the envelope (JSON object, known `type`,
 * numeric `id` where the type has one); the fields are trusted as the server wrote them.
 */
export function parseServerMessage(text: string): ServerMessage {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ProtocolError('bad_json', `server message is not JSON: ${(e as Error).message}`);
  }
  if (!isObj(v) || typeof v.type !== 'string' || !SERVER_TYPES.has(v.type as ServerMessage['type'])) {
    throw new ProtocolError('unknown_type', `unknown server message ${JSON.stringify(isObj(v) ? v.type : v)}`);
  }
  if (['accepted', 'done', 'cancelled', 'busy', 'score-accepted', 'score', 'score-done'].includes(v.type) && typeof v.id !== 'number') throw new ProtocolError('missing_field', `"${v.type}" lacks a numeric "id"`);
  return v as unknown as ServerMessage;
}

/** Serialises a message (either direction). */
export function encodeMessage(msg: ClientMessage | ServerMessage): string {
  return JSON.stringify(msg);
}

// ───────────────────────────── audio frames ─────────────────────────────

export interface AudioFrameHeader {
  streamId: number;
  seq: number;
  sampleRate: number;
  sampleOffset: number;
  /** True on the stream's last frame. */
  last: boolean;
}

export interface AudioFrame extends AudioFrameHeader {
  samples: Float32Array;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function u32(v: number, name: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new ProtocolError('bad_frame', `${name} must be a uint32, got ${v}`);
}

/** Header + float32 LE PCM in one new buffer. */
export function encodeAudioFrame(h: AudioFrameHeader, samples: Float32Array): Uint8Array {
  u32(h.streamId, 'streamId');
  u32(h.seq, 'seq');
  u32(h.sampleRate, 'sampleRate');
  u32(h.sampleOffset, 'sampleOffset');
  const out = new Uint8Array(AUDIO_HEADER_BYTES + samples.length * 4);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, AUDIO_MAGIC, true);
  dv.setUint8(4, AUDIO_FRAME_VERSION);
  dv.setUint8(5, h.last ? AUDIO_FLAG_LAST : 0);
  dv.setUint16(6, AUDIO_HEADER_BYTES, true);
  dv.setUint32(8, h.streamId, true);
  dv.setUint32(12, h.seq, true);
  dv.setUint32(16, h.sampleRate, true);
  dv.setUint32(20, h.sampleOffset, true);
  dv.setUint32(24, samples.length, true);
  dv.setUint32(28, 0, true);
  if (LITTLE_ENDIAN) out.set(new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength), AUDIO_HEADER_BYTES);
  else for (let i = 0; i < samples.length; i++) dv.setFloat32(AUDIO_HEADER_BYTES + 4 * i, samples[i]!, true);
  return out;
}

/** True when `bytes` starts with the audio magic (to tell audio frames from other binary data). */
export function isAudioFrame(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x46 && bytes[1] === 0x56 && bytes[2] === 0x4f && bytes[3] === 0x58;
}

/**
 * Decodes an audio frame. Accepts a Uint8Array (any byteOffset) or an ArrayBuffer (browser
 * `binaryType = 'arraybuffer'`). The samples are a fresh, aligned copy. Throws ProtocolError
 * ('bad_frame') on a wrong magic, an unknown version, a short header or a length that disagrees
 * with sampleCount.
 */
export function decodeAudioFrame(input: Uint8Array | ArrayBuffer): AudioFrame {
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  if (bytes.length < AUDIO_HEADER_BYTES) throw new ProtocolError('bad_frame', `audio frame of ${bytes.length} bytes is shorter than the ${AUDIO_HEADER_BYTES}-byte header`);
  if (!isAudioFrame(bytes)) throw new ProtocolError('bad_frame', 'not a flowvox audio frame (bad magic)');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint8(4);
  if (version !== AUDIO_FRAME_VERSION) throw new ProtocolError('bad_frame', `audio frame version ${version}; this client reads version ${AUDIO_FRAME_VERSION}`);
  const headerBytes = dv.getUint16(6, true);
  if (headerBytes < AUDIO_HEADER_BYTES || headerBytes % 4 !== 0) throw new ProtocolError('bad_frame', `bad audio header size ${headerBytes}`);
  const count = dv.getUint32(24, true);
  if (bytes.length !== headerBytes + 4 * count) {
    throw new ProtocolError('bad_frame', `audio frame says ${count} samples (${headerBytes + 4 * count} bytes) but has ${bytes.length} bytes`);
  }
  const samples = new Float32Array(count);
  if (LITTLE_ENDIAN) new Uint8Array(samples.buffer).set(bytes.subarray(headerBytes));
  else for (let i = 0; i < count; i++) samples[i] = dv.getFloat32(headerBytes + 4 * i, true);
  return {
    streamId: dv.getUint32(8, true),
    seq: dv.getUint32(12, true),
    sampleRate: dv.getUint32(16, true),
    sampleOffset: dv.getUint32(20, true),
    last: (dv.getUint8(5) & AUDIO_FLAG_LAST) !== 0,
    samples,
  };
}

// ───────────────────────────── helpers shared by both ends ─────────────────────────────

/**
 * Downsamples a channels-last mel [frames, bands] to at most `maxColumns` columns (mean over the
 * frames of each column) for display in `accepted.mel`.
 */
export function displayMel(data: Float32Array, frames: number, bands: number, maxColumns = 512): DisplayMel {
  const columns = Math.max(1, Math.min(frames, maxColumns));
  const out = new Array<number>(columns * bands).fill(0);
  let min = Infinity;
  let max = -Infinity;
  for (let c = 0; c < columns; c++) {
    const f0 = Math.floor((c * frames) / columns);
    const f1 = Math.max(f0 + 1, Math.floor(((c + 1) * frames) / columns));
    for (let b = 0; b < bands; b++) {
      let s = 0;
      for (let f = f0; f < f1; f++) s += data[f * bands + b]!;
      const v = Math.round((s / (f1 - f0)) * 100) / 100;
      out[c * bands + b] = v;
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  return { columns, bands, min: Number.isFinite(min) ? min : 0, max: Number.isFinite(max) ? max : 0, data: out };
}
