import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import WebSocket from 'ws';
import { BufferPlan, Playback, type Player } from '../../../client/playback.js';
import { ScheduledPlayback } from '../../../client/scheduled-playback.js';
import { Session, socketUrl, StreamError, type SocketEvents, type StreamRequest, type WireSocket } from '../../../client/session.js';
import type { WorkletStats } from '../../../client/worklet-messages.js';
import { encodeWav } from '../../io/wav.js';
import { ensureClientBuilt } from '../build-client.js';
import { CliError, checkOutputFile, num, parse, printJson, type Command } from '../common.js';

const HELP = `flowvox play --url ws://HOST:PORT (--sample ID | --mel FILE.npy | --wav FILE.wav) [--sigma 0.6] [--denoise 0]
             [--seed N] [--chunk-frames N] [--prebuffer SECONDS] [--out OUT.wav] [--token T] [--json]
  Streams a synthesis from a running "flowvox serve" and plays it as it arrives (through the same
  AudioWorklet ring buffer as the browser player), or, with --out, saves it as a 16-bit WAV instead.
  --sample names one of the server's bundled samples (the list is printed when the name is wrong);
  --mel uploads a mel .npy ([80, T]), --wav a WAV file (copy-synthesis through its mel).
  --url also takes http:// URLs and host:port; the path defaults to /ws. --token: the server's --token.
  Playback schedules each chunk natively, back to back (gapless, no JavaScript on the audio thread);
  --worklet plays through the browser player's AudioWorklet ring buffer instead (node-web-audio-api's
  worklet keeps about half a core busy, which slows a server on the same small machine).
  --prebuffer waits for at least this much audio before playback starts (default: estimated from the
  arrival rate); raise it for a server that is slower than real time.
  JSON (last stdout line): {samples, sampleRate, chunks, timeToFirstAudioMs, xRealTime, seed, underruns,
  played, out} (timeToFirstAudioMs: from sending "start" to the first audio frame; xRealTime: seconds of
  audio per second of wall time, from "start" to the last frame).`;

/** `ws` behind session.ts's socket interface, with errors worded for people. */
function openNodeSocket(url: string, ev: SocketEvents): WireSocket {
  const ws = new WebSocket(url, { handshakeTimeout: 10_000 });
  ws.on('open', () => ev.open());
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) ev.binary(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    else ev.text(data.toString('utf8'));
  });
  ws.on('close', (code: number, reason: Buffer) => ev.close(code, reason.toString('utf8')));
  ws.on('unexpected-response', (_req, res) => {
    ev.error(`the server refused the WebSocket upgrade (HTTP ${res.statusCode}${res.statusCode === 403 ? ': origin or token not allowed' : res.statusCode === 404 ? ': no WebSocket endpoint at this path' : ''})`);
    ws.terminate();
  });
  ws.on('error', (e: NodeJS.ErrnoException) => {
    const why = e.code === 'ECONNREFUSED' ? 'connection refused (is "flowvox serve" running at that address?)'
      : e.code === 'ENOTFOUND' ? 'unknown host'
      : e.code === 'ECONNRESET' ? 'connection reset by the server'
      : e.message;
    ev.error(why);
  });
  return { send: (d) => ws.send(d), close: () => ws.close() };
}

async function readInput(path: string, what: string, limit: number): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (e) {
    throw new CliError(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  if (bytes.byteLength > limit) throw new CliError(`${path} is ${bytes.byteLength} bytes; the server accepts uploads up to ${limit} bytes`);
  if (bytes.byteLength === 0) throw new CliError(`${path} is empty`);
  return bytes;
}

/**
 * False where opening a device is sure to fail (Linux without /dev/snd or a PulseAudio/PipeWire
 * socket, e.g. containers): trying anyway prints pages of ALSA/JACK noise from the native library.
 */
function mayHaveAudioDevice(): boolean {
  if (process.platform !== 'linux') return true;
  if (existsSync('/dev/snd') || process.env.PULSE_SERVER) return true;
  const runtime = process.env.XDG_RUNTIME_DIR;
  return !!runtime && (existsSync(`${runtime}/pulse/native`) || existsSync(`${runtime}/pipewire-0`));
}

/** Speakers through node-web-audio-api; a null sink (said so on stderr) where there is no device. */
async function openAudio(sampleRate: number, useWorklet: boolean): Promise<{ playback: Player; close(): Promise<void>; device: boolean }> {
  // node-web-audio-api's AudioWorklet relies on Promise.withResolvers (Node ≥ 22).
  const P = Promise as unknown as { withResolvers?: <T>() => { promise: Promise<T>; resolve(v: T): void; reject(e: unknown): void } };
  P.withResolvers ??= <T>() => {
    let resolve!: (v: T) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
  const wa = await import('node-web-audio-api');
  let ctx: AudioContext | null = null;
  let why = 'no sound card (/dev/snd) and no PulseAudio server';
  if (mayHaveAudioDevice()) {
    try {
      ctx = new wa.AudioContext({ sampleRate, latencyHint: 'playback' });
    } catch (e) {
      why = (e as Error).message;
    }
  }
  const device = ctx !== null;
  if (!ctx) {
    process.stderr.write(`flowvox play: no audio output device (${why}); streaming into a silent sink — give --out FILE.wav to keep the audio\n`);
    ctx = new wa.AudioContext({ sampleRate, sinkId: { type: 'none' } } as AudioContextOptions);
  }
  const close = () => ctx.close();
  if (!useWorklet) return { playback: new ScheduledPlayback(ctx), device, close };
  const dir = await ensureClientBuilt({ log: (l) => process.stderr.write(l + '\n') });
  await ctx.audioWorklet.addModule(`${dir}/worklet.js`);
  const playback = new Playback(ctx, (c, name, options) => new wa.AudioWorkletNode(c as AudioContext, name, options));
  return { playback, device, close };
}

export const command: Command = {
  summary: 'stream a synthesis from "flowvox serve" and play it (or save it with --out)',
  async run(argv) {
    const o = parse(argv, {
      url: { type: 'string' }, sample: { type: 'string' }, mel: { type: 'string' }, wav: { type: 'string' },
      sigma: { type: 'string' }, denoise: { type: 'string' }, seed: { type: 'string' }, 'chunk-frames': { type: 'string' },
      out: { type: 'string' }, token: { type: 'string' }, worklet: { type: 'boolean', default: false }, prebuffer: { type: 'string' },
    }, HELP);
    const prebufferSeconds = num(o.prebuffer, 'prebuffer', 0, { min: 0, max: 3600 });
    if (!o.url) throw new CliError(`--url is required (e.g. --url ws://127.0.0.1:8080)\n${HELP}`);
    const given = [o.sample, o.mel, o.wav].filter((x) => x !== undefined).length;
    if (given !== 1) throw new CliError(`give exactly one of --sample, --mel and --wav\n${HELP}`);
    checkOutputFile(o.out, 'out');
    const sigma = num(o.sigma, 'sigma', 0.6, { min: 0, max: 2 });
    const denoise = num(o.denoise, 'denoise', 0, { min: 0, max: 1 });
    const seed = o.seed === undefined ? undefined : num(o.seed, 'seed', 0, { min: 0, max: 0xffffffff, int: true });
    const chunkFrames = o['chunk-frames'] === undefined ? undefined : num(o['chunk-frames'], 'chunk-frames', 0, { min: 1, int: true });
    const say = (line: string) => {
      if (!o.json) process.stderr.write(line + '\n');
    };

    let url: string;
    try {
      url = socketUrl(o.url, o.token);
    } catch (e) {
      throw new CliError((e as Error).message);
    }
    const session = await Session.open(url, openNodeSocket).catch((e: StreamError) => {
      throw new CliError(e.message, 1);
    });
    try {
      const hello = session.hello;
      let source: StreamRequest['source'];
      if (o.sample !== undefined) {
        const ids = hello.samples.map((s) => s.id);
        if (!ids.includes(o.sample)) {
          throw new CliError(`the server has no sample "${o.sample}"; it has: ${ids.length ? ids.join(', ') : '(none — use --mel or --wav)'}`);
        }
        source = { kind: 'sample', sampleId: o.sample };
      } else if (o.mel !== undefined) source = { kind: 'npy', bytes: await readInput(o.mel, 'mel', hello.limits.maxUploadBytes) };
      else source = { kind: 'wav', bytes: await readInput(o.wav!, 'WAV', hello.limits.maxUploadBytes) };

      const audio = o.out ? null : await openAudio(hello.sampleRate, o.worklet);
      say(`flowvox play: ${hello.model.name} at ${hello.sampleRate} Hz from ${url.replace(/token=[^&]*/, 'token=…')}`);
      let tFirst: number | null = null;
      let tLast: number | null = null;
      let stats: WorkletStats | null = null;
      let plan: BufferPlan | null = null;
      let received = 0;
      const onSigint = () => {
        session.cancel(id);
        audio?.playback.stop();
      };
      const req: StreamRequest = { source, sigma, denoise, ...(seed !== undefined ? { seed } : {}), ...(chunkFrames !== undefined ? { chunkFrames } : {}) };
      const tStart = performance.now();
      const { id, result } = session.stream(req, {
        accepted: (m) => {
          say(`accepted: ${(m.totalSamples / m.sampleRate).toFixed(2)} s in ${m.chunks} chunks of ${m.chunkFrames} frames, seed ${m.seed}${m.queuePosition ? `, queued at ${m.queuePosition}` : ''}`);
          plan = new BufferPlan(m.sampleRate, m.totalSamples, Math.max(0.3 * m.sampleRate, (m.chunkFrames * m.totalSamples) / Math.max(1, m.frames)));
          audio?.playback.begin({ sourceRate: m.sampleRate, prebuffer: Math.max(plan.initial, Math.min(m.totalSamples, Math.round(prebufferSeconds * m.sampleRate))) });
        },
        audio: (f) => {
          const now = performance.now();
          tFirst ??= now;
          if (f.last) tLast = now;
          received += f.samples.length;
          audio?.playback.push(f.samples);
          if (plan) audio?.playback.setPrebuffer(plan.update(received, now - tStart));
          if (f.last) audio?.playback.end();
        },
      });
      process.once('SIGINT', onSigint);
      let res;
      try {
        res = await result;
      } catch (e) {
        audio?.playback.stop();
        await audio?.close();
        const err = e as StreamError;
        if (err.code === 'cancelled') throw new CliError(`stream ${err.message}`, 130);
        throw new CliError(err.message, 1);
      } finally {
        process.off('SIGINT', onSigint);
      }
      tLast ??= performance.now();
      if (audio) {
        audio.playback.end();
        say('playing…');
        stats = await audio.playback.whenEnded();
        await audio.close();
      }
      const sr = res.accepted.sampleRate;
      const samples = res.pcm.length;
      if (o.out) {
        try {
          await writeFile(o.out, encodeWav(res.pcm, sr, { bitDepth: '16' }));
        } catch (e) {
          throw new CliError(`cannot write ${o.out}: ${(e as Error).message}`, 1);
        }
      }
      const wallS = (tLast - tStart) / 1000;
      const out = {
        samples,
        sampleRate: sr,
        chunks: res.chunks,
        timeToFirstAudioMs: tFirst === null ? null : Number((tFirst - tStart).toFixed(1)),
        xRealTime: Number((samples / sr / Math.max(wallS, 1e-6)).toFixed(3)),
        seed: res.accepted.seed,
        underruns: stats ? stats.underruns : null,
        played: stats ? stats.played : null,
        audioDevice: audio ? audio.device : null,
        serverTimeToFirstAudioMs: res.done.stats.timeToFirstAudioMs,
        out: o.out ?? null,
      };
      if (o.json) printJson(out);
      else {
        const played = stats ? `, played with ${stats.underruns} underrun${stats.underruns === 1 ? '' : 's'}` : '';
        console.log(`${(samples / sr).toFixed(2)} s of audio in ${res.chunks} chunks: first audio after ${out.timeToFirstAudioMs} ms, ${out.xRealTime}× real time${played}${o.out ? `; wrote ${o.out}` : ''}`);
      }
    } finally {
      session.close();
    }
  },
};
