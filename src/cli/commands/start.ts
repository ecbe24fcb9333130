import { command as density2d } from './density2d.js';
import { parse, type Command } from '../common.js';

const HELP = `flowvox start [--out DIR]
  The main job. Until the streaming server lands, it fits the 2D example (RealNVP on eight
  Gaussians, about a minute) and writes its figures to DIR (default out/start).`;

export const command: Command = {
  summary: 'the main job (for now: the 2D density example)',
  async run(argv) {
    const o = parse(argv, { out: { type: 'string', default: 'out/start' } }, HELP);
    const extra = o.backend ? ['--backend', o.backend] : [];
    return density2d.run(['--dataset', '8gaussians', '--flow', 'realnvp', '--steps', '1500', '--batch', '1024', '--out', o.out, ...(o.json ? ['--json'] : []), ...extra]);
  },
};
