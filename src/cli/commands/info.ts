import { availableBackends } from '../../backend/index.js';
import { parse, printJson, setupBackend, version, type Command } from '../common.js';

const HELP = `flowvox info [--backend NAME] [--json]
  Prints the flowvox version, the TensorFlow.js backend that runs, and the ones available.`;

export const command: Command = {
  summary: 'version and TensorFlow.js backend in use',
  async run(argv) {
    const opts = parse(argv, {}, HELP);
    const { backend } = await setupBackend(opts.backend, true);
    const out = { version: version(), backend, available: await availableBackends() };
    if (opts.json) printJson(out);
    else console.log(`flowvox ${out.version}\nbackend: ${out.backend}\navailable: ${out.available.join(', ')}`);
  },
};
