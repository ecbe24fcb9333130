/**
 * The player's pre-buffer plan, simulated: a playhead drains the buffer in real time while frames
 * arrive on a given timeline; playback starts when the plan says so. Counts underruns.
 */
import { describe, expect, it } from 'vitest';
import { BufferPlan } from '../client/playback.js';

const SR = 22050;

/** Arrivals as [ms since the request, samples]; returns underruns and when playback started. */
function simulate(arrivals: [number, number][], base = 0.3 * SR): { underruns: number; startMs: number } {
  const total = arrivals.reduce((a, [, n]) => a + n, 0);
  const plan = new BufferPlan(SR, total, base);
  let hold = plan.initial;
  let received = 0;
  let played = 0;
  let playing = false;
  let startMs = -1;
  let underruns = 0;
  let k = 0;
  const end = arrivals[arrivals.length - 1]![0] + (total / SR) * 1000 + 1000;
  for (let t = 0; t <= end && played < total; t++) {
    while (k < arrivals.length && arrivals[k]![0] <= t) {
      received += arrivals[k]![1];
      hold = plan.update(received, arrivals[k]![0]);
      k++;
    }
    if (!playing && received - played >= Math.min(hold, total - played)) {
      playing = true;
      if (startMs < 0) startMs = t;
    }
    if (playing) {
      const want = SR / 1000;
      if (received - played < want && received < total) {
        underruns++;
        played = received;
        playing = false;
      } else played = Math.min(total, played + want);
    }
  }
  return { underruns, startMs };
}

describe('BufferPlan', () => {
  it('survives the bursty arrivals CI saw (two workers, one stalled chunk) without an underrun', () => {
    // Recorded in the e2e test on a busy 2-core machine: the server at ~0.6× real time, chunks in
    // pairs, then a 0.9 s stall before the last three came at once.
    const seen: [number, number][] = [
      [778, 1024], [850, 2048], [1100, 4096], [1288, 4096], [1600, 4096], [1750, 4096],
      [1951, 4096], [2854, 4096], [2854, 4096], [2854, 3584],
    ];
    const r = simulate(seen);
    expect(r.underruns).toBe(0);
    expect(r.startMs).toBeGreaterThan(0);
  });

  it('starts early, after about the base pre-buffer, when the server is faster than real time', () => {
    // 4096-sample chunks (0.19 s) every 60 ms: ~3× real time, 5 s of audio.
    const arrivals: [number, number][] = Array.from({ length: 27 }, (_, i) => [100 + 60 * i, 4096]);
    const r = simulate(arrivals);
    expect(r.underruns).toBe(0);
    expect(r.startMs).toBeLessThan(400); // within a few chunks, not the whole utterance
  });

  it('waits long enough for a steady server slower than real time', () => {
    // 0.5× real time: 2048 samples every 186 ms, 4 s of audio.
    const arrivals: [number, number][] = Array.from({ length: 43 }, (_, i) => [200 + 186 * i, 2048]);
    const r = simulate(arrivals);
    expect(r.underruns).toBe(0);
    expect(r.startMs).toBeLessThan(arrivals[arrivals.length - 1]![0]); // still starts before the end
  });

});
