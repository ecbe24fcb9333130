import { describe, expect, it } from 'vitest';
import { quickstart } from '../examples/quickstart.js';
import { trainDensity2D } from '../src/examples/density2d/train.js';
import { initBackend } from '../src/backend/index.js';
import { toyDataset, DATASETS } from '../src/examples/density2d/datasets.js';

describe('examples', () => {
  it('the README quick-start example learns (NLL falls)', async () => {
    const r = await quickstart(300);
    expect(r.last).toBeLessThan(r.first - 0.3);
    expect(Number.isFinite(r.meanLogProb)).toBe(true);
  });

  it('toy datasets are seeded and have the stated support', () => {
    for (const name of DATASETS) {
      const a = toyDataset(name, 3).sample(100);
      expect(toyDataset(name, 3).sample(100)).toEqual(a);
      expect(toyDataset(name, 4).sample(100)).not.toEqual(a);
    }
    // Checkerboard: every point lies in a "black" square of the 8×8 board of side 1 on [−4, 4]².
    const c = toyDataset('checkerboard', 1).sample(2000);
    for (let i = 0; i < 2000; i++) {
      const cx = Math.floor(c[2 * i] / 2);
      const cy = Math.floor(c[2 * i + 1] / 2);
      expect(Math.abs(c[2 * i])).toBeLessThanOrEqual(4);
      expect((((cx + cy) % 2) + 2) % 2).toBe(0);
    }
  });

  it('density2d: a short RealNVP fit on eight Gaussians beats a single Gaussian fit', async () => {
    await initBackend('wasm');
    const r = trainDensity2D({ dataset: '8gaussians', flow: 'realnvp', steps: 250, seed: 0, batch: 256, testSamples: 4000 });
    // A single Gaussian fitted to this mixture has NLL = log(2πe) + log(var) ≈ 2.838 + 1.6; the flow must do better.
    expect(r.testNll).toBeLessThan(4.0);
    expect(r.kl).not.toBeNull();
    expect(r.kl!).toBeGreaterThan(-0.05); // cannot beat the true entropy (up to sampling noise)
    r.model.dispose();
  });
});
