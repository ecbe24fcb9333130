import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readBinManifest } from '../../io/fixtures.js';
import { saveModelDir } from '../../io/model-dir.js';
import { loadTorchStateDict } from '../../vocoder/import/index.js';
import { configFromNvidia, loadNvidiaStateDict, type HostTensor } from '../../vocoder/nvidia.js';
import { WaveGlow } from '../../vocoder/waveglow.js';
import { CliError, parse, printJson, setupBackend, type Command } from '../common.js';

const HELP = `flowvox import --from <weights.json | state_dict.pt | checkpoint.pt> --config config.json --out DIR [--json]
  Converts NVIDIA WaveGlow weights into a flowvox model directory: a plain state_dict .pt, a
  training checkpoint (.pt pickling the module, weight norm applied — as NVIDIA publishes them),
  or a weights.json + weights.bin pair. --config is NVIDIA's config.json (its waveglow_config).
  .pt files are read in TypeScript: no Python needed.`;

export const command: Command = {
  summary: "import NVIDIA WaveGlow weights (.pt or weights.json)",
  async run(argv) {
    const o = parse(argv, { from: { type: 'string' }, config: { type: 'string' }, out: { type: 'string' } }, HELP);
    if (!o.from || !o.config || !o.out) throw new CliError(`--from, --config and --out are required\n${HELP}`);
    await setupBackend(o.backend, true);
    const cfg = configFromNvidia(JSON.parse(await readFile(o.config, 'utf8').catch(() => {
      throw new CliError(`cannot read --config ${o.config}`);
    })));
    let dict: Map<string, HostTensor>;
    try {
      if (o.from.endsWith('.json')) {
        const dir = join(o.from, '..');
        dict = readBinManifest(dir, o.from.slice(dir.length + 1));
      } else {
        dict = loadTorchStateDict(new Uint8Array(await readFile(o.from)));
      }
    } catch (e) {
      throw new CliError(`${o.from}: ${(e as Error).message}`);
    }
    const model = new WaveGlow(cfg);
    try {
      loadNvidiaStateDict(model, dict);
    } catch (e) {
      throw new CliError(`${o.from}: ${(e as Error).message}`);
    }
    const card = `# WaveGlow imported from NVIDIA weights\n\nSource: \`${o.from}\` with config \`${o.config}\`, converted by \`flowvox import\`.\nParameters: ${model.parameterCount()}.\n`;
    await saveModelDir(o.out, model, { source: `import ${o.from}`, card });
    const out = { out: o.out, params: model.parameterCount(), config: cfg };
    if (o.json) printJson(out);
    else console.log(`wrote ${o.out} (${out.params} parameters)`);
  },
};
