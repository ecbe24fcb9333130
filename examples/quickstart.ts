// The README's library example: build a flow, fit it by maximum likelihood, sample, logProb.
// Run: npx tsx examples/quickstart.ts
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/index.js';
import * as F from '../src/flows/index.js';
import { MLP } from '../src/nn/mlp.js';
import { Trainer, meanNll } from '../src/train/trainer.js';

export async function quickstart(steps = 2000): Promise<{ first: number; last: number; meanLogProb: number }> {
  await initBackend(); // picks tfjs-node-gpu → tfjs-node → wasm → cpu
  const coupling = (parity: 0 | 1) =>
    new F.AffineCoupling({ mask: F.alternatingMask(2, parity) }, new MLP(2, 4, { hidden: [64, 64], zeroLast: true }), { scale: 'softclamp' });
  const flow = new F.TransformedDistribution(
    new F.StandardNormal([2]),
    new F.Chain([coupling(0), new F.ActNorm(2), coupling(1), new F.ActNorm(2), coupling(0)]),
  );
  // Your data here: a banana-shaped density.
  const data = () => tf.tidy(() => {
    const z = tf.randomNormal([512, 2]);
    const [a, b] = tf.split(z, 2, 1);
    return tf.concat([a, tf.add(tf.mul(b, 0.5), tf.square(a))], 1);
  });
  const trainer = new Trainer(flow, { clipNorm: 5, schedule: { lr: 2e-3, warmupSteps: 100, decay: 'cosine', totalSteps: steps } });
  const losses = trainer.fit(steps, () => meanNll(flow, data()), (s) => {
    if (s.step % 500 === 0) console.log(`step ${s.step}  NLL ${s.loss.toFixed(3)}`);
  });
  const x = flow.sample(1000, undefined, { temperature: 0.8 }); // samples at temperature 0.8
  const lp = flow.logProb(x); // exact log-densities, shape [1000]
  const meanLogProb = tf.mean(lp).dataSync()[0];
  tf.dispose([x, lp]);
  return { first: losses[0], last: losses[losses.length - 1], meanLogProb };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await quickstart());
