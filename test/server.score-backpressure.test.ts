/**
 * Scoring streams pause while their socket is backed up and resume once it drains: ScoreStreams with
 * a fake worker pool (scores come back when the test says) and a fake socket whose bufferedAmount
 * the test sets. The synthesis path's backpressure is tested in server.test.ts through a real server.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { SegmentScores } from '../src/anomaly/scorer.js';
import type { ScoreWindow } from '../src/anomaly/stream-scorer.js';
import { DEFAULT_LIMITS, type ServerMessage } from '../src/stream/protocol.js';
import type { WorkerPool } from '../server/pool.js';
import type { StreamSink } from '../server/scheduler.js';
import { ScoreStreams } from '../server/score-streams.js';

const SR = 22050;
const geometry = { sampleRate: SR, melHop: 256, nGroup: 256, nFft: 1024 };

class FakeSink implements StreamSink {
  bufferedAmount = 0;
  open = true;
  readonly messages: ServerMessage[] = [];
  sendJson(msg: ServerMessage): void {
    this.messages.push(msg);
  }
  sendBinary(): void {}
  scores(): number {
    return this.messages.filter((m) => m.type === 'score').length;
  }
}

/** One worker; each job's scores are released by `finishAll()`. */
class FakePool {
  pending: { window: ScoreWindow; resolve: (r: { type: 'scored'; scores: SegmentScores[] }) => void }[] = [];
  jobs = 0;
  get idle(): number {
    return this.pending.length === 0 ? 1 : 0;
  }
  run(job: { window: ScoreWindow }): Promise<unknown> {
    this.jobs++;
    return new Promise((resolve) => this.pending.push({ window: job.window, resolve }));
  }
  async finishAll(): Promise<void> {
    for (const p of this.pending.splice(0)) p.resolve({ type: 'scored', scores: p.window.segments.map((s) => ({ ...s, nll: 1, background: 1, lr: 0 })) });
    await new Promise((r) => setTimeout(r, 0));
  }
}

let streams: ScoreStreams | null = null;
afterEach(() => streams?.shutdown());

describe('scoring streams: backpressure', () => {
  it('stops handing out windows while the socket is over the high-water mark and resumes below the low one', async () => {
    const pool = new FakePool();
    const pump = () => {
      while (streams!.dispatchOne());
    };
    streams = new ScoreStreams(pool as unknown as WorkerPool, {
      geometry, calibration: null, limits: DEFAULT_LIMITS, maxStreams: 2, highWaterMark: 1000, lowWaterMark: 100, pump,
    });
    const sink = new FakeSink();
    const opened = streams.open({ id: 1, sink, inputRate: SR });
    if (opened.status !== 'accepted') throw new Error(opened.status);
    // 20 s of audio, pushed at once: several windows' worth (a window is at most 32 segments of
    // 0.5 s every 0.25 s). One window is in flight at a time.
    const audio = new Float32Array(20 * SR).map((_, i) => 0.1 * Math.sin(i / 7));
    for (let seq = 0, off = 0; off < audio.length; seq++, off += SR) {
      opened.handle.push({ streamId: 1, seq, sampleRate: SR, sampleOffset: off, samples: audio.subarray(off, off + SR), last: false });
    }
    expect(pool.jobs).toBe(1);
    await pool.finishAll(); // its scores go out, and the next window is dispatched at once
    expect(sink.scores()).toBeGreaterThan(0);
    expect(pool.jobs).toBe(2);

    // The socket backs up: the window in flight still reports, but no further one is dispatched.
    sink.bufferedAmount = 5000;
    await pool.finishAll();
    for (let i = 0; i < 3; i++) pump();
    expect(pool.jobs).toBe(2);
    // Draining below the high mark but not below the low one keeps it paused…
    sink.bufferedAmount = 500;
    await new Promise((r) => setTimeout(r, 60));
    pump();
    expect(pool.jobs).toBe(2);
    const paused = sink.scores();
    // …below the low one the watcher (a 20 ms poll) resumes it by itself, without new audio arriving.
    // Waits up to 2 s for that, so a loaded CI machine's late timers do not fail the test.
    sink.bufferedAmount = 0;
    for (let t = 0; t < 100 && pool.jobs < 3; t++) await new Promise((r) => setTimeout(r, 20));
    expect(pool.jobs).toBe(3);
    opened.handle.end();
    for (let i = 0; i < 20 && !sink.messages.some((m) => m.type === 'score-done'); i++) await pool.finishAll();
    const done = sink.messages.find((m) => m.type === 'score-done');
    expect(done).toBeDefined();
    expect(sink.scores()).toBeGreaterThan(paused);
    // Scores went out in order, none lost or repeated.
    const idx = sink.messages.flatMap((m) => (m.type === 'score' ? [m.index] : []));
    expect(idx).toEqual(idx.map((_, i) => i));
    expect(done && done.type === 'score-done' ? done.segments : -1).toBe(idx.length);
  });
});
