/**
 * The playback AudioWorklet: a growable ring buffer fed by Float32Array chunks posted over the
 * MessagePort (no SharedArrayBuffer: that needs COOP/COEP headers). It starts after a pre-buffer,
 * counts underruns, and resamples linearly when the AudioContext cannot run at the model's rate.
 * Bundled on its own (AudioWorklet modules load by URL); runs in browsers and node-web-audio-api.
 */
import { PROCESSOR_NAME, type FromWorklet, type PlayerProcessorOptions, type ToWorklet, type WorkletState } from './worklet-messages.js';

/** Power-of-two ring so indices wrap with a mask; grows (rarely, by doubling) instead of dropping audio. */
class Ring {
  private buf = new Float32Array(1 << 16);
  private mask = this.buf.length - 1;
  private head = 0; // index of the oldest sample
  length = 0;

  push(x: Float32Array): void {
    if (this.length + x.length > this.buf.length) this.grow(this.length + x.length);
    const w = (this.head + this.length) & this.mask;
    const first = Math.min(x.length, this.buf.length - w);
    this.buf.set(x.subarray(0, first), w);
    if (first < x.length) this.buf.set(x.subarray(first), 0);
    this.length += x.length;
  }

  /** Sample i positions after the oldest; 0 past the end (only the resampler's last tap reads there). */
  at(i: number): number {
    return i < this.length ? this.buf[(this.head + i) & this.mask]! : 0;
  }

  drop(n: number): void {
    const k = Math.min(n, this.length);
    this.head = (this.head + k) & this.mask;
    this.length -= k;
  }

  clear(): void {
    this.head = 0;
    this.length = 0;
  }

  private grow(need: number): void {
    let cap = this.buf.length;
    while (cap < need) cap *= 2;
    const next = new Float32Array(cap);
    for (let i = 0; i < this.length; i++) next[i] = this.buf[(this.head + i) & this.mask]!;
    this.buf = next;
    this.mask = cap - 1;
    this.head = 0;
  }
}

const STATS_EVERY = 8; // quanta between stats messages (~46 ms at 22.05 kHz)

class PlayerProcessor extends AudioWorkletProcessor {
  private readonly ring = new Ring();
  private readonly step: number; // source samples per output sample
  private prebuffer: number;
  private state: WorkletState = 'idle';
  private endOfStream = false;
  private frac = 0; // fractional read position (resampling only)
  private played = 0;
  private underruns = 0;
  private quanta = 0;

  constructor(options?: AudioWorkletNodeOptions) {
    super(options);
    const o = options?.processorOptions as Partial<PlayerProcessorOptions> | undefined;
    this.step = (o?.sourceRate ?? sampleRate) / sampleRate;
    this.prebuffer = Math.max(0, o?.prebuffer ?? 0);
    this.port.onmessage = (e: MessageEvent<ToWorklet>) => this.onMessage(e.data);
  }

  private onMessage(m: ToWorklet): void {
    if (m.type === 'push') {
      if (this.state === 'idle' || this.state === 'ended') this.begin();
      this.ring.push(m.samples);
    } else if (m.type === 'prebuffer') {
      this.prebuffer = Math.max(0, m.samples);
    } else if (m.type === 'end') {
      if (this.state === 'idle') this.begin();
      this.endOfStream = true;
    } else {
      this.ring.clear();
      this.state = 'idle';
      this.endOfStream = false;
      this.post();
    }
  }

  private begin(): void {
    this.ring.clear();
    this.state = 'buffering';
    this.endOfStream = false;
    this.frac = 0;
    this.played = 0;
    this.underruns = 0;
    this.quanta = 0;
  }

  private post(): void {
    const msg: FromWorklet = {
      type: 'stats', state: this.state, buffered: this.ring.length, played: this.played,
      underruns: this.underruns, quanta: this.quanta, ended: this.state === 'ended',
    };
    this.port.postMessage(msg);
  }

  process(_inputs: Float32Array[][], outputs: Float32Array[][]): boolean {
    const out = outputs[0];
    if (!out || out.length === 0) return true;
    const ch0 = out[0]!;
    const n = ch0.length;
    const before = this.state;
    if (this.state === 'buffering' && (this.ring.length >= this.prebuffer || this.endOfStream)) this.state = 'playing';
    if (this.state === 'playing') {
      this.quanta++;
      // Source samples this quantum reads (plus one tap to interpolate against when resampling).
      const need = this.step === 1 ? n : Math.floor(this.frac + (n - 1) * this.step) + 2;
      if (this.ring.length < need && !this.endOfStream) {
        // Starved: play what there is, then wait for a fresh pre-buffer rather than stutter.
        this.underruns++;
        this.render(ch0, Math.min(n, Math.floor(this.ring.length / this.step)));
        this.state = 'buffering';
      } else {
        this.render(ch0, n);
        if (this.endOfStream && this.ring.length === 0) this.state = 'ended';
      }
    } else ch0.fill(0);
    for (let c = 1; c < out.length; c++) out[c]!.set(ch0);
    if (this.state !== before || (this.state === 'playing' && this.quanta % STATS_EVERY === 0)) this.post();
    return true;
  }

  /** Writes k output samples from the ring (zeros after), consuming what they used. */
  private render(dst: Float32Array, k: number): void {
    if (this.step === 1) {
      const m = Math.min(k, this.ring.length);
      for (let i = 0; i < m; i++) dst[i] = this.ring.at(i);
      dst.fill(0, m);
      this.ring.drop(m);
      this.played += m;
      return;
    }
    let pos = this.frac;
    let i = 0;
    for (; i < k && Math.floor(pos) < this.ring.length; i++, pos += this.step) {
      const j = Math.floor(pos);
      const f = pos - j;
      dst[i] = this.ring.at(j) * (1 - f) + this.ring.at(j + 1) * f;
    }
    dst.fill(0, i);
    const used = Math.min(Math.floor(pos), this.ring.length);
    this.ring.drop(used);
    this.played += used;
    this.frac = pos - Math.floor(pos);
  }
}

registerProcessor(PROCESSOR_NAME, PlayerProcessor);
