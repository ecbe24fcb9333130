/**
 * "Listen for anomalies": streams a dropped/chosen audio file or the microphone to the server's
 * scoring stream and draws the scores live, with the threshold and the flagged segments. The file
 * is decoded in the browser at the model's rate (so the server need not resample it); the
 * microphone is captured at the audio context's rate and resampled on the server.
 */
import type { HelloMessage, ScoreAcceptedMessage, ScoreMessage, ScoreName } from '../src/stream/protocol.js';
import { drawScores } from './draw.js';
import { StreamError, type ScoreRun, type Session } from './session.js';

export interface ScoringState {
  phase: 'idle' | 'starting' | 'running' | 'done' | 'stopped' | 'error';
  source: 'file' | 'mic' | null;
  label: string | null;
  scoreName: ScoreName | null;
  threshold: number | null;
  /** Every `score` the server sent, in order. */
  segments: { index: number; start: number; end: number; score: number; flagged: boolean; scores: ScoreMessage['scores'] }[];
  flagged: number;
  /** Input seconds sent. */
  sent: number;
  error: string | null;
  done: boolean;
}

export interface ScoreViewDeps {
  session(): Session | null;
  hello(): HelloMessage | null;
}

/** Chunks sent per second of audio (the server scores a segment as soon as it is complete). */
const CHUNK_SECONDS = 0.25;

function $<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing from index.html`);
  return el as T;
}

export class ScoreView {
  readonly state: ScoringState = { phase: 'idle', source: null, label: null, scoreName: null, threshold: null, segments: [], flagged: 0, sent: 0, error: null, done: false };
  private run: ScoreRun | null = null;
  private stopCapture: (() => void) | null = null;
  private generation = 0;
  private dirty = true;
  private readonly ui = {
    file: $<HTMLInputElement>('score-file'),
    drop: $<HTMLLabelElement>('score-drop'),
    mic: $<HTMLButtonElement>('score-mic'),
    stop: $<HTMLButtonElement>('score-stop'),
    realtime: $<HTMLInputElement>('score-realtime'),
    name: $<HTMLSelectElement>('score-name'),
    canvas: $<HTMLCanvasElement>('score-canvas'),
    info: $('score-info'),
    message: $('score-message'),
  };

  constructor(private readonly deps: ScoreViewDeps) {
    const u = this.ui;
    u.file.addEventListener('change', () => {
      const f = u.file.files?.[0];
      if (f) void this.scoreFile(f);
      u.file.value = '';
    });
    for (const t of ['dragenter', 'dragover'] as const) {
      u.drop.addEventListener(t, (e) => {
        e.preventDefault();
        u.drop.classList.add('over');
      });
    }
    u.drop.addEventListener('dragleave', () => u.drop.classList.remove('over'));
    u.drop.addEventListener('drop', (e) => {
      e.preventDefault();
      u.drop.classList.remove('over');
      const f = e.dataTransfer?.files[0];
      if (f) void this.scoreFile(f);
    });
    u.mic.addEventListener('click', () => void this.scoreMic());
    u.stop.addEventListener('click', () => this.stop(true));
    this.refresh();
  }

  /** The server's scores (hello.anomaly) into the score selector. */
  onHello(h: HelloMessage): void {
    const a = h.anomaly;
    const sel = this.ui.name;
    const keep = sel.value;
    sel.replaceChildren();
    for (const n of a?.scores ?? ['lr']) {
      const o = document.createElement('option');
      o.value = n;
      o.textContent = n === a?.defaultScore ? `${n} (default)` : n;
      sel.append(o);
    }
    sel.value = a?.scores.includes(keep as ScoreName) ? keep : (a?.defaultScore ?? 'lr');
    this.ui.info.textContent = a ? (a.calibrated ? 'calibrated: segments over the threshold are flagged' : 'no calibration on this server: scores only, nothing flagged') : '';
    this.refresh();
  }

  private begin(source: 'file' | 'mic', label: string, sampleRate: number): ScoreRun | null {
    const session = this.deps.session();
    if (!session) {
      this.fail('not connected');
      return null;
    }
    this.stop(false);
    const gen = ++this.generation;
    Object.assign(this.state, { phase: 'starting', source, label, scoreName: null, threshold: null, segments: [], flagged: 0, sent: 0, error: null, done: false });
    this.message('');
    const run = session.score({ sampleRate, score: (this.ui.name.value || undefined) as ScoreName | undefined }, {
      accepted: (m) => gen === this.generation && this.onAccepted(m),
      score: (m) => gen === this.generation && this.onScore(m),
    });
    this.run = run;
    run.result.then(
      (done) => {
        if (gen !== this.generation) return;
        this.state.phase = 'done';
        this.state.done = true;
        this.stopCapture?.();
        this.message(`Done: ${done.segments} segments over ${done.seconds.toFixed(2)} s, ${done.flagged} flagged.`);
        this.refresh();
      },
      (e: unknown) => {
        if (gen !== this.generation) return;
        const err = e instanceof StreamError ? e : new StreamError(String(e), 'internal');
        this.stopCapture?.();
        if (err.code === 'cancelled') return;
        this.fail(err.message);
      },
    );
    this.refresh();
    return run;
  }

  private onAccepted(m: ScoreAcceptedMessage): void {
    this.state.phase = 'running';
    this.state.scoreName = m.scoreName;
    this.state.threshold = m.threshold;
    this.ui.info.textContent = `${m.scoreName}${m.threshold === null ? ' · no threshold (uncalibrated)' : ` · threshold ${m.threshold.toFixed(3)}`} · ${m.segment.toFixed(2)} s segments every ${m.hop.toFixed(2)} s${m.inputRate !== m.sampleRate ? ` · ${m.inputRate} Hz → ${m.sampleRate} Hz on the server` : ''}`;
    this.refresh();
  }

  private onScore(m: ScoreMessage): void {
    this.state.segments.push({ index: m.index, start: m.start, end: m.end, score: m.score, flagged: m.flagged, scores: m.scores });
    if (m.flagged) this.state.flagged++;
    this.dirty = true;
  }

  /** Decodes the file at the model's rate and sends it, in real time or as fast as the server scores. */
  async scoreFile(f: File): Promise<void> {
    const rate = this.deps.hello()?.sampleRate ?? 22050;
    let pcm: Float32Array;
    try {
      const buf = await new OfflineAudioContext(1, 1, rate).decodeAudioData(await f.arrayBuffer());
      pcm = mono(buf);
    } catch (e) {
      return this.fail(`${f.name} could not be decoded as audio: ${(e as Error).message || e}`);
    }
    const run = this.begin('file', f.name, rate);
    if (!run) return;
    const gen = this.generation;
    const realtime = this.ui.realtime.checked;
    const chunk = Math.round(rate * CHUNK_SECONDS);
    const t0 = performance.now();
    let stopped = false;
    this.stopCapture = () => {
      stopped = true;
    };
    for (let at = 0; at < pcm.length; at += chunk) {
      // Real time: wait for the chunk's moment. Otherwise keep the unscored audio under the server's limit.
      while (!stopped && gen === this.generation) {
        const ahead = at / rate - (this.state.segments.at(-1)?.end ?? 0);
        const due = realtime ? t0 + (at / rate) * 1000 - performance.now() : 0;
        const limit = Math.min(10, (this.deps.hello()?.limits.maxScoreBacklogSeconds ?? 30) / 2);
        if (due <= 0 && (this.state.phase === 'running' && ahead <= limit)) break;
        await sleep(Math.max(10, Math.min(due, 100)));
      }
      if (stopped || gen !== this.generation) return;
      run.push(pcm.subarray(at, at + chunk));
      this.state.sent = run.sentSeconds;
      this.dirty = true;
    }
    run.end();
  }

  /** Captures the microphone (ScriptProcessor: it works without a worklet module) and streams it. */
  async scoreMic(): Promise<void> {
    if (!navigator.mediaDevices?.getUserMedia) {
      return this.fail('The microphone is not available here: browsers offer it only on secure pages (https or localhost).');
    }
    let media: MediaStream;
    try {
      media = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
    } catch (e) {
      const name = (e as DOMException).name;
      const why = name === 'NotAllowedError' || name === 'SecurityError'
        ? 'Microphone access was denied. Allow it in the browser\'s site settings, or drop a file instead.'
        : name === 'NotFoundError' ? 'No microphone was found. Connect one, or drop a file instead.' : `The microphone could not be opened: ${(e as Error).message || name}`;
      return this.fail(why);
    }
    const ctx = new AudioContext();
    const run = this.begin('mic', 'microphone', ctx.sampleRate);
    if (!run) {
      media.getTracks().forEach((t) => t.stop());
      void ctx.close();
      return;
    }
    const src = ctx.createMediaStreamSource(media);
    const proc = ctx.createScriptProcessor(4096, 1, 1);
    const mute = ctx.createGain();
    mute.gain.value = 0; // the processor must reach the destination to run; keep it silent
    const chunk = Math.round(ctx.sampleRate * CHUNK_SECONDS);
    let pending = new Float32Array(0);
    proc.onaudioprocess = (e) => {
      const x = e.inputBuffer.getChannelData(0);
      const next = new Float32Array(pending.length + x.length);
      next.set(pending);
      next.set(x, pending.length);
      pending = next;
      while (pending.length >= chunk) {
        run.push(pending.slice(0, chunk));
        pending = pending.slice(chunk);
      }
      this.state.sent = run.sentSeconds;
      this.dirty = true;
    };
    src.connect(proc);
    proc.connect(mute);
    mute.connect(ctx.destination);
    if (ctx.state !== 'running') await ctx.resume().catch(() => {});
    this.message('Listening… press Stop to finish.');
    this.stopCapture = () => {
      proc.onaudioprocess = null;
      src.disconnect();
      proc.disconnect();
      media.getTracks().forEach((t) => t.stop());
      void ctx.close();
      if (pending.length) run.push(pending);
      pending = new Float32Array(0);
      this.stopCapture = null;
    };
  }

  /** Stops the current input; a user's Stop still scores what was sent (score-end), a restart cancels. */
  stop(user: boolean): void {
    const capture = this.stopCapture;
    this.stopCapture = null;
    capture?.();
    const run = this.run;
    if (run && (this.state.phase === 'running' || this.state.phase === 'starting')) {
      if (user) {
        run.end();
        this.message('Stopped: scoring what was sent…');
      } else {
        this.generation++;
        this.deps.session()?.cancel(run.id);
        this.state.phase = 'stopped';
      }
    }
    this.refresh();
  }

  private fail(message: string): void {
    this.state.phase = 'error';
    this.state.error = message;
    this.message(message, true);
    this.refresh();
  }

  private message(text: string, error = false): void {
    this.ui.message.textContent = text;
    this.ui.message.classList.toggle('error', error);
  }

  private refresh(): void {
    const active = this.state.phase === 'starting' || this.state.phase === 'running';
    this.ui.stop.disabled = !active;
    this.ui.mic.disabled = active || !this.deps.session();
    this.ui.drop.classList.toggle('disabled', active);
    this.dirty = true;
  }

  /** Called every animation frame; redraws when something changed. */
  render(): void {
    if (!this.dirty) return;
    this.dirty = false;
    const s = this.state;
    // A file fills the width; the microphone scrolls through its last 30 s.
    const span = s.source === 'mic' ? 30 : Math.max(1, s.segments.at(-1)?.end ?? 1);
    drawScores(this.ui.canvas, s.segments, s.threshold, s.scoreName ?? '', s.phase === 'starting' ? 'starting…' : 'Drop an audio file or start the microphone', span);
  }

  markDirty(): void {
    this.dirty = true;
  }
}

function mono(b: AudioBuffer): Float32Array {
  if (b.numberOfChannels === 1) return b.getChannelData(0).slice();
  const out = new Float32Array(b.length);
  for (let c = 0; c < b.numberOfChannels; c++) {
    const d = b.getChannelData(c);
    for (let i = 0; i < out.length; i++) out[i]! += d[i]! / b.numberOfChannels;
  }
  return out;
}

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));
