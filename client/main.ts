/**
 * The flowvox browser player: pick a bundled sample or drop a WAV / mel .npy, stream its synthesis
 * over the WebSocket, play it gaplessly through the AudioWorklet, watch the mel and the waveform
 * fill in, download the result. State for tests is on `window.__flowvox`.
 */
import { encodeWav } from '../src/io/wav.js';
import type { AcceptedMessage, AudioFrame, DoneMessage, HelloMessage, SampleInfo } from '../src/stream/protocol.js';
import { drawMel, drawWave, melImage, WavePeaks, type Progress } from './draw.js';
import { BufferPlan, Playback, type Player } from './playback.js';
import { ScheduledPlayback } from './scheduled-playback.js';
import { ScoreView, type ScoringState } from './score-view.js';
import { Session, socketUrl, StreamError, type SocketEvents, type StreamRequest, type WireSocket } from './session.js';
import type { WorkletStats } from './worklet-messages.js';

// ───────────────────────────── DOM ─────────────────────────────

function $<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing from index.html`);
  return el as T;
}

const ui = {
  conn: $('conn'),
  connText: $('conn-text'),
  samples: $('samples'),
  drop: $<HTMLLabelElement>('drop'),
  dropText: $('drop-text'),
  file: $<HTMLInputElement>('file'),
  sigma: $<HTMLInputElement>('sigma'),
  sigmaOut: $<HTMLOutputElement>('sigma-out'),
  denoise: $<HTMLInputElement>('denoise'),
  denoiseOut: $<HTMLOutputElement>('denoise-out'),
  play: $<HTMLButtonElement>('play'),
  playLabel: $('play-label'),
  stop: $<HTMLButtonElement>('stop'),
  download: $<HTMLButtonElement>('download'),
  message: $('message'),
  mel: $<HTMLCanvasElement>('mel'),
  melInfo: $('mel-info'),
  wave: $<HTMLCanvasElement>('wave'),
  waveInfo: $('wave-info'),
  ttfa: $('st-ttfa'),
  speed: $('st-speed'),
  buffer: $('st-buffer'),
  bufferBar: $('st-buffer-bar'),
  underruns: $('st-underruns'),
  underrunsBox: $('st-underruns-box'),
  foot: $('foot'),
};

// ───────────────────────────── state ─────────────────────────────

type Phase = 'connecting' | 'ready' | 'starting' | 'streaming' | 'done' | 'stopped' | 'error';

type Selection =
  | { kind: 'sample'; id: string }
  | { kind: 'file'; name: string; type: 'wav' | 'npy'; bytes: Uint8Array };

/** One stream from Play to the end of playback. */
interface Run {
  id: number;
  label: string;
  sigma: number;
  denoise: number;
  tStart: number;
  tFirst: number | null;
  tLast: number | null;
  accepted: AcceptedMessage | null;
  pcm: Float32Array;
  /** Samples received (frames tile the utterance in order, so also the received prefix). */
  received: number;
  chunks: number;
  peaks: WavePeaks | null;
  plan: BufferPlan | null;
  /** A "buffering because the server is slow" notice is showing. */
  slowNotice: boolean;
  melImg: HTMLCanvasElement | null;
  streamDone: DoneMessage | null;
  playbackEnded: boolean;
}

const PREBUFFER_SECONDS = 0.3;
const BUSY_RETRIES = 3;

let session: Session | null = null;
let hello: HelloMessage | null = null;
let phase: Phase = 'connecting';
let selection: Selection | null = null;
let run: Run | null = null;
let lastError: string | null = null;
let audioCtx: AudioContext | null = null;
let playback: Player | null = null;
let audioReady: Promise<void> | null = null;
let dirty = true;

const rate = (): number => run?.accepted?.sampleRate ?? hello?.sampleRate ?? 22050;

// ───────────────────────────── connection ─────────────────────────────

/** The browser's WebSocket behind session.ts's small socket interface. */
function openBrowserSocket(url: string, ev: SocketEvents): WireSocket {
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => ev.open();
  ws.onmessage = (e: MessageEvent<string | ArrayBuffer>) => {
    if (typeof e.data === 'string') ev.text(e.data);
    else ev.binary(new Uint8Array(e.data));
  };
  ws.onerror = () => ev.error('WebSocket error');
  ws.onclose = (e) => ev.close(e.code, e.reason);
  return { send: (d) => ws.send(d), close: () => ws.close() };
}

async function connect(attempt = 0): Promise<void> {
  setConn('connecting', attempt ? 'reconnecting…' : 'connecting…');
  const token = new URLSearchParams(location.search).get('token') ?? undefined;
  const base = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`;
  try {
    session = await Session.open(socketUrl(base, token), openBrowserSocket);
  } catch (e) {
    const err = e as StreamError;
    if (err.code === 'unauthorized') {
      setConn('error', 'unauthorized');
      return showMessage('This server needs a token: open the page as …/?token=YOUR_TOKEN', true);
    }
    const wait = Math.min(10, 2 ** attempt);
    setConn('error', `offline — retrying in ${wait} s`);
    setTimeout(() => void connect(attempt + 1), wait * 1000);
    return;
  }
  hello = session.hello;
  scoreView.onHello(hello);
  session.onClose = (e) => {
    session = null;
    if (run && !run.streamDone) fail(`connection lost: ${e.message}`);
    void connect(1);
  };
  setConn('connected', `${modelName(hello.model.name)} · ${(hello.sampleRate / 1000).toFixed(2)} kHz`);
  renderSamples(hello.samples);
  if (phase === 'connecting') phase = 'ready';
  renderFoot();
  refreshButtons();
}

/** The model's directory name without its path (servers report the path they were given). */
function modelName(name: string): string {
  return name.includes('(') ? name : (name.split(/[\\/]/).filter(Boolean).pop() ?? name);
}

function setConn(state: 'connecting' | 'connected' | 'error', text: string): void {
  ui.conn.dataset.state = state;
  ui.connText.textContent = text;
}

function renderFoot(): void {
  if (!hello) return;
  const m = hello.model;
  const parts = [
    `model ${modelName(m.name)}${m.source ? ` (${m.source})` : ''}`,
    `${m.nFlows} flows, group ${m.nGroup}${m.envelopeIterations ? `, mel-envelope matching ×${m.envelopeIterations}` : ''}`,
    `${hello.sampleRate} Hz`,
    `${hello.defaultChunkFrames}-frame chunks`,
    `${hello.workers} worker${hello.workers === 1 ? '' : 's'}`,
  ];
  if (audioCtx) parts.push(audioCtx.sampleRate === hello.sampleRate ? 'audio out at the model rate' : `audio out ${audioCtx.sampleRate} Hz (resampled)`);
  if (playback instanceof ScheduledPlayback) parts.push('scheduled buffers (no AudioWorklet here)');
  ui.foot.textContent = `flowvox · ${parts.join(' · ')}`;
}

// ───────────────────────────── input ─────────────────────────────

function renderSamples(list: SampleInfo[]): void {
  ui.samples.replaceChildren();
  if (list.length === 0) {
    const p = document.createElement('p');
    p.className = 'hint';
    p.textContent = 'No bundled samples on this server — drop a file below.';
    ui.samples.append(p);
    return;
  }
  for (const s of list) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'sample';
    b.setAttribute('role', 'radio');
    b.dataset.id = s.id;
    const id = document.createElement('span');
    id.className = 'id';
    id.textContent = s.id;
    id.title = s.id;
    const dur = document.createElement('span');
    dur.className = 'dur';
    dur.textContent = `${s.seconds.toFixed(1)} s`;
    b.append(id, dur);
    if (s.lang || s.text) {
      const sub = document.createElement('span');
      sub.className = 'sub';
      if (s.lang) {
        const badge = document.createElement('span');
        badge.className = 'badge';
        badge.textContent = s.lang;
        sub.append(badge);
      }
      if (s.text) sub.append(s.text);
      b.append(sub);
    }
    b.addEventListener('click', () => select({ kind: 'sample', id: s.id }));
    ui.samples.append(b);
  }
  // Keep the choice across reconnects; otherwise start with the first sample chosen.
  if (selection?.kind === 'sample' && !list.some((s) => s.id === (selection as { id: string }).id)) selection = null;
  if (!selection) select({ kind: 'sample', id: list[0]!.id });
  else select(selection);
}

function select(s: Selection): void {
  selection = s;
  for (const b of ui.samples.querySelectorAll<HTMLButtonElement>('.sample')) {
    b.setAttribute('aria-checked', String(s.kind === 'sample' && b.dataset.id === s.id));
  }
  ui.drop.classList.toggle('selected', s.kind === 'file');
  if (s.kind === 'file') ui.dropText.innerHTML = '';
  if (s.kind === 'file') {
    const b = document.createElement('b');
    b.textContent = s.name;
    ui.dropText.append(b, ` · ${(s.bytes.byteLength / 1024).toFixed(0)} KB ${s.type === 'npy' ? 'mel' : 'WAV'} — drop another to replace`);
  } else {
    ui.dropText.innerHTML = 'Drop a <b>WAV</b> or a mel <b>.npy</b> here, or <u>browse</u>';
  }
  refreshButtons();
}

async function takeFile(f: File): Promise<void> {
  const bytes = new Uint8Array(await f.arrayBuffer());
  const head = String.fromCharCode(...bytes.subarray(0, 6));
  const type = head.startsWith('RIFF') ? 'wav' : head === '\x93NUMPY' ? 'npy' : /\.npy$/i.test(f.name) ? 'npy' : /\.wave?$/i.test(f.name) ? 'wav' : null;
  if (!type) return showMessage(`${f.name} is neither a WAV nor a .npy file`, true);
  const limit = hello?.limits.maxUploadBytes;
  if (limit && bytes.byteLength > limit) {
    return showMessage(`${f.name} is ${(bytes.byteLength / 1e6).toFixed(1)} MB; this server takes up to ${(limit / 1e6).toFixed(1)} MB`, true);
  }
  showMessage('');
  select({ kind: 'file', name: f.name, type, bytes });
}

ui.file.addEventListener('change', () => {
  const f = ui.file.files?.[0];
  if (f) void takeFile(f);
  ui.file.value = ''; // choosing the same file again still fires 'change'
});
for (const t of ['dragenter', 'dragover'] as const) {
  ui.drop.addEventListener(t, (e) => {
    e.preventDefault();
    ui.drop.classList.add('over');
  });
}
ui.drop.addEventListener('dragleave', () => ui.drop.classList.remove('over'));
ui.drop.addEventListener('drop', (e) => {
  e.preventDefault();
  ui.drop.classList.remove('over');
  const f = e.dataTransfer?.files[0];
  if (f) void takeFile(f);
});
// A file dropped beside the zone should not navigate away from the page.
window.addEventListener('dragover', (e) => e.preventDefault());
window.addEventListener('drop', (e) => e.preventDefault());

function syncSliders(): void {
  const sigma = Number(ui.sigma.value);
  const den = Number(ui.denoise.value);
  ui.sigmaOut.textContent = sigma.toFixed(2);
  ui.denoiseOut.textContent = den === 0 ? 'off' : den.toFixed(3);
  for (const s of [ui.sigma, ui.denoise]) {
    const f = (Number(s.value) - Number(s.min)) / (Number(s.max) - Number(s.min));
    s.style.setProperty('--fill', `${(f * 100).toFixed(1)}%`);
  }
}
ui.sigma.addEventListener('input', syncSliders);
ui.denoise.addEventListener('input', syncSliders);
syncSliders();

// ───────────────────────────── audio ─────────────────────────────

/** The AudioContext (made on the first click: browsers allow sound only after a gesture). */
async function ensureAudio(modelRate: number): Promise<Player> {
  if (!audioCtx) {
    let ctx: AudioContext;
    try {
      // At the model's rate the worklet needs no resampling; browsers that refuse get their default.
      ctx = new AudioContext({ sampleRate: modelRate, latencyHint: 'interactive' });
    } catch {
      ctx = new AudioContext({ latencyHint: 'interactive' });
    }
    audioCtx = ctx;
    audioReady = (async () => {
      // AudioWorklet exists only in secure contexts (https, localhost): elsewhere, scheduled buffers.
      try {
        if (!ctx.audioWorklet) throw new Error('no AudioWorklet in this context');
        await ctx.audioWorklet.addModule(new URL('worklet.js', import.meta.url).href);
        playback = new Playback(ctx);
      } catch (e) {
        console.warn(`flowvox: ${(e as Error).message}; playing through scheduled buffers`);
        playback = new ScheduledPlayback(ctx);
      }
      playback.onStats = onWorkletStats;
      renderFoot();
    })();
  }
  await audioReady;
  if (audioCtx.state !== 'running') await audioCtx.resume();
  return playback!;
}

function onWorkletStats(s: WorkletStats): void {
  dirty = true;
  if (run?.slowNotice && s.state === 'playing') {
    run.slowNotice = false;
    showMessage('');
  }
  if (s.ended && run && !run.playbackEnded) {
    run.playbackEnded = true;
    if (run.streamDone) finish();
  }
}

// ───────────────────────────── streaming ─────────────────────────────

async function play(): Promise<void> {
  if (!session || !hello || !selection) return;
  const sel = selection;
  const sigma = Number(ui.sigma.value);
  const denoise = Number(ui.denoise.value);
  stopCurrent(false);
  phase = 'starting';
  lastError = null;
  showMessage('');
  refreshButtons();
  let out: Player;
  try {
    out = await ensureAudio(hello.sampleRate);
  } catch (e) {
    return fail(`cannot start audio output: ${(e as Error).message}`);
  }
  const req: StreamRequest = {
    source: sel.kind === 'sample' ? { kind: 'sample', sampleId: sel.id } : { kind: sel.type, bytes: sel.bytes },
    sigma,
    denoise,
  };
  const label = sel.kind === 'sample' ? sel.id : sel.name.replace(/\.(wav|wave|npy)$/i, '');
  for (let attempt = 0; ; attempt++) {
    if (!session) return fail('not connected');
    const r: Run = {
      id: -1, label, sigma, denoise, tStart: performance.now(), tFirst: null, tLast: null, accepted: null, pcm: new Float32Array(0),
      received: 0, chunks: 0, peaks: null, plan: null, slowNotice: false, melImg: null, streamDone: null, playbackEnded: false,
    };
    run = r;
    dirty = true;
    const { id, result } = session.stream(req, {
      accepted: (m) => onAccepted(r, m, out),
      audio: (f) => onAudio(r, f, out),
    });
    r.id = id;
    try {
      const res = await result;
      if (run !== r) return;
      r.streamDone = res.done;
      r.tLast ??= performance.now();
      out.end();
      if (r.playbackEnded || r.received === 0) finish();
      dirty = true;
      return;
    } catch (e) {
      if (run !== r) return;
      const err = e instanceof StreamError ? e : new StreamError(String(e), 'internal');
      if (err.code === 'cancelled') return;
      if (err.code === 'busy' && attempt < BUSY_RETRIES) {
        const wait = err.retryAfterMs ?? 1000;
        showMessage(`Server busy — retrying in ${(wait / 1000).toFixed(1)} s…`);
        await new Promise((res) => setTimeout(res, wait));
        if (run !== r || phase !== 'starting') return;
        continue;
      }
      out.stop();
      return fail(err.message);
    }
  }
}

function onAccepted(r: Run, m: AcceptedMessage, out: Player): void {
  if (run !== r) return;
  r.accepted = m;
  r.pcm = new Float32Array(m.totalSamples);
  r.peaks = new WavePeaks(r.pcm, ui.wave.clientWidth);
  r.melImg = melImage(m.mel);
  const chunkSamples = m.chunkFrames * (m.totalSamples / Math.max(1, m.frames));
  r.plan = new BufferPlan(m.sampleRate, m.totalSamples, Math.max(PREBUFFER_SECONDS * m.sampleRate, chunkSamples));
  out.begin({ sourceRate: m.sampleRate, prebuffer: r.plan.initial });
  phase = 'streaming';
  ui.melInfo.textContent = `${m.frames} frames · ${m.mel.bands} bands · seed ${m.seed}`;
  if (m.queuePosition > 0) showMessage(`Waiting for a free worker (position ${m.queuePosition})…`);
  dirty = true;
  refreshButtons();
}

function onAudio(r: Run, f: AudioFrame, out: Player): void {
  if (run !== r || !r.peaks) return;
  const now = performance.now();
  if (r.tFirst === null) {
    r.tFirst = now;
    if (r.accepted && r.accepted.queuePosition > 0) showMessage('');
  }
  r.pcm.set(f.samples, f.sampleOffset);
  r.received = Math.max(r.received, f.sampleOffset + f.samples.length);
  r.chunks++;
  r.peaks.add(f.sampleOffset, f.sampleOffset + f.samples.length);
  out.push(f.samples);
  if (r.plan) {
    const hold = r.plan.update(r.received, now - r.tStart);
    out.setPrebuffer(hold);
    const waiting = out.stats.state !== 'playing' && hold > r.received && hold < r.pcm.length;
    if (waiting && r.chunks >= 2) {
      const x = r.plan.speed(r.received, now - r.tStart);
      r.slowNotice = true;
      showMessage(`The server runs at ${x.toFixed(2)}× real time here: buffering ${(hold / f.sampleRate).toFixed(1)} s first so playback won't stutter.`);
    }
  }
  if (f.last) {
    r.tLast = now;
    out.end();
  }
  dirty = true;
  refreshButtons();
}

function finish(): void {
  if (!run) return;
  phase = 'done';
  dirty = true;
  refreshButtons();
}

function fail(message: string): void {
  phase = 'error';
  lastError = message;
  showMessage(message, true);
  dirty = true;
  refreshButtons();
}

/** Stops the running stream (server and playback). */
function stopCurrent(userStop: boolean): void {
  if (run && session && !run.streamDone && run.id >= 0) session.cancel(run.id);
  playback?.stop();
  if (userStop && run) {
    phase = 'stopped';
    showMessage('Stopped.');
  }
  dirty = true;
  refreshButtons();
}

function showMessage(text: string, error = false): void {
  ui.message.textContent = text;
  ui.message.classList.toggle('error', error);
}

function refreshButtons(): void {
  const active = phase === 'starting' || phase === 'streaming';
  ui.play.disabled = !session || !selection || active;
  ui.playLabel.textContent = active ? 'Playing…' : 'Play';
  ui.stop.disabled = !active;
  ui.download.disabled = !run || run.received === 0 || active;
}

ui.play.addEventListener('click', () => void play());
// Space plays / stops unless a control that uses the key has focus.
window.addEventListener('keydown', (e) => {
  const t = e.target as HTMLElement | null;
  if (e.key !== ' ' || e.repeat || (t && t.closest('button, input, textarea, select, a'))) return;
  e.preventDefault();
  if (!ui.stop.disabled) stopCurrent(true);
  else if (!ui.play.disabled) void play();
});
ui.stop.addEventListener('click', () => stopCurrent(true));
ui.download.addEventListener('click', () => {
  const bytes = wavBytes();
  if (!bytes || !run) return;
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'audio/wav' }));
  a.download = `flowvox-${run.label}-sigma${run.sigma.toFixed(2)}${run.accepted ? `-seed${run.accepted.seed}` : ''}.wav`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
});

/** The received audio as a 16-bit WAV. */
function wavBytes(): Uint8Array | null {
  if (!run || run.received === 0) return null;
  return encodeWav(run.pcm.subarray(0, run.received), rate(), { bitDepth: '16' });
}

// ───────────────────────────── rendering ─────────────────────────────

function progress(): Progress {
  const total = run?.accepted?.totalSamples ?? 0;
  const s = playback?.stats;
  const playing = phase === 'streaming' || (phase === 'done' && !!run && !run.playbackEnded);
  return {
    received: total ? (run?.received ?? 0) / total : 0,
    played: total && s ? Math.min(1, s.played / total) : 0,
    playing: playing && (s?.state === 'playing' || s?.state === 'buffering') && (s?.played ?? 0) > 0,
  };
}

function stats(): { timeToFirstAudioMs: number | null; xRealTime: number | null; bufferMs: number; underruns: number; played: number } {
  const r = run;
  const s = playback?.stats;
  const ttfa = r && r.tFirst !== null ? r.tFirst - r.tStart : null;
  let x: number | null = null;
  if (r && r.received > 0) {
    const wall = ((r.tLast ?? performance.now()) - r.tStart) / 1000;
    x = r.received / rate() / Math.max(wall, 1e-3);
  }
  return { timeToFirstAudioMs: ttfa, xRealTime: x, bufferMs: s ? (s.buffered / rate()) * 1000 : 0, underruns: s?.underruns ?? 0, played: s?.played ?? 0 };
}

function render(): void {
  const p = progress();
  const r = run;
  const empty = phase === 'starting' ? 'starting…' : 'Choose an input and press Play';
  drawMel(ui.mel, r?.melImg ?? null, p, empty);
  if (r?.peaks && r.peaks.width !== Math.floor(ui.wave.clientWidth)) {
    const pcm = r.pcm;
    const got = r.received;
    r.peaks.resize(ui.wave.clientWidth, (a) => a < got && pcm.length > 0);
  }
  const seconds = r?.accepted ? r.accepted.totalSamples / r.accepted.sampleRate : 0;
  drawWave(ui.wave, r?.peaks ?? null, seconds, p, empty);
  if (r?.accepted) {
    ui.waveInfo.textContent = `${(r.received / rate()).toFixed(2)} / ${seconds.toFixed(2)} s · ${r.chunks}/${r.accepted.chunks} chunks`;
  } else ui.waveInfo.textContent = '';
  if (!r?.accepted) ui.melInfo.textContent = '';

  const st = stats();
  ui.ttfa.textContent = st.timeToFirstAudioMs === null ? '—' : st.timeToFirstAudioMs.toFixed(0);
  ui.speed.textContent = st.xRealTime === null ? '—' : st.xRealTime >= 10 ? st.xRealTime.toFixed(0) : st.xRealTime.toFixed(1);
  const active = !!r && r.received > 0;
  ui.buffer.textContent = active ? st.bufferMs.toFixed(0) : '—';
  ui.bufferBar.style.width = `${Math.min(100, (st.bufferMs / 3000) * 100).toFixed(1)}%`;
  ui.underruns.textContent = active ? String(st.underruns) : '—';
  ui.underrunsBox.classList.toggle('good', active && st.underruns === 0 && st.played > 0);
  ui.underrunsBox.classList.toggle('bad', active && st.underruns > 0);
  if (phase === 'done' && r?.streamDone && !lastError && ui.message.textContent === '') {
    showMessage(`Done: ${(r.received / rate()).toFixed(2)} s of audio in ${r.chunks} chunks, server time to first audio ${r.streamDone.stats.timeToFirstAudioMs.toFixed(0)} ms.`);
  }
}

// ───────────────────────────── views ─────────────────────────────

const scoreView = new ScoreView({ session: () => session, hello: () => hello });

function showView(which: 'synth' | 'score'): void {
  for (const v of ['synth', 'score'] as const) {
    $(`view-${v}`).hidden = v !== which;
    $(`tab-${v}`).setAttribute('aria-selected', String(v === which));
  }
  if (which === 'score') scoreView.markDirty();
  else dirty = true;
}
$('tab-synth').addEventListener('click', () => showView('synth'));
$('tab-score').addEventListener('click', () => showView('score'));
if (location.hash === '#anomalies') showView('score');

function frame(): void {
  scoreView.render();
  const animating = phase === 'streaming' || (phase === 'done' && !!run && !run.playbackEnded);
  if (dirty || animating) {
    dirty = false;
    render();
  }
  requestAnimationFrame(frame);
}
new ResizeObserver(() => {
  dirty = true;
  scoreView.markDirty();
}).observe(document.body);
requestAnimationFrame(frame);

// ───────────────────────────── test hook ─────────────────────────────

function base64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** Read-only view of the player for automated tests (and curious people in the console). */
export interface FlowvoxDebug {
  readonly phase: Phase;
  readonly connected: boolean;
  readonly samples: string[];
  readonly sampleRate: number;
  readonly contextRate: number | null;
  /** 'worklet' (the ring buffer) or 'scheduled' (fallback without AudioWorklet); null before Play. */
  readonly player: 'worklet' | 'scheduled' | null;
  readonly streamId: number | null;
  readonly seed: number | null;
  readonly totalSamples: number;
  readonly received: number;
  readonly chunks: number;
  readonly played: number;
  readonly underruns: number;
  /** The server said `done` (all audio received). */
  readonly streamDone: boolean;
  /** All audio received and played out. */
  readonly done: boolean;
  readonly error: string | null;
  readonly stats: ReturnType<typeof stats> & { server: DoneMessage['stats'] | null };
  /** The received PCM (a copy). */
  pcm(): Float32Array;
  /** The download, a 16-bit WAV, as base64 ('' before any audio). */
  wavBase64(): string;
  /** The "Listen for anomalies" view: every score received, the threshold, errors. */
  readonly scoring: ScoringState;
}

const debug: FlowvoxDebug = {
  get phase() { return phase; },
  get connected() { return session !== null; },
  get samples() { return hello?.samples.map((s) => s.id) ?? []; },
  get sampleRate() { return rate(); },
  get contextRate() { return audioCtx?.sampleRate ?? null; },
  get player() { return playback === null ? null : playback instanceof ScheduledPlayback ? 'scheduled' : 'worklet'; },
  get streamId() { return run?.id ?? null; },
  get seed() { return run?.accepted?.seed ?? null; },
  get totalSamples() { return run?.accepted?.totalSamples ?? 0; },
  get received() { return run?.received ?? 0; },
  get chunks() { return run?.chunks ?? 0; },
  get played() { return playback?.stats.played ?? 0; },
  get underruns() { return playback?.stats.underruns ?? 0; },
  get streamDone() { return !!run?.streamDone; },
  get done() { return phase === 'done' && !!run?.playbackEnded; },
  get error() { return lastError; },
  get stats() { return { ...stats(), server: run?.streamDone?.stats ?? null }; },
  pcm: () => (run ? run.pcm.slice(0, run.received) : new Float32Array(0)),
  wavBase64: () => {
    const b = wavBytes();
    return b ? base64(b) : '';
  },
  get scoring() { return scoreView.state; },
};

declare global {
  interface Window {
    __flowvox: FlowvoxDebug;
  }
}
window.__flowvox = debug;

void connect();
