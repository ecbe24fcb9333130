import { copyFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadModelDir, saveModelDir } from '../../io/model-dir.js';
import { CliError, parse, printJson, setupBackend, type Command } from '../common.js';

const HELP = `flowvox convert --model DIR --out DIR [--dtype float16|float32] [--json]
  Rewrites a model directory, e.g. with float16 weights (about half the size, for shipping; synthesis
  differs from float32 weights by half-precision rounding of the parameters). The 1x1 convolutions'
  matrices stay float32: the flow inverts them, and rounding them alone cost the default voice
  0.036 nats/sample. Keeps card.md and the synthesis settings (latent scale).`;

export const command: Command = {
  summary: 'rewrite a model directory (e.g. float16 weights)',
  async run(argv) {
    const o = parse(argv, { model: { type: 'string' }, out: { type: 'string' }, dtype: { type: 'string', default: 'float16' } }, HELP);
    if (!o.model || !o.out) throw new CliError(`--model and --out are required\n${HELP}`);
    if (o.dtype !== 'float16' && o.dtype !== 'float32') throw new CliError('--dtype must be float16 or float32');
    await setupBackend(o.backend, true);
    const { model, config } = await loadModelDir(o.model).catch((e: Error) => {
      throw new CliError(e.message);
    });
    await saveModelDir(o.out, model, { source: config.source, dtype: o.dtype, synthesis: config.synthesis });
    if (existsSync(join(o.model, 'card.md')) && o.model !== o.out) await copyFile(join(o.model, 'card.md'), join(o.out, 'card.md'));
    const out = { out: o.out, dtype: o.dtype, params: model.parameterCount() };
    if (o.json) printJson(out);
    else console.log(`wrote ${o.out} (${out.params} parameters, ${o.dtype})`);
  },
};
