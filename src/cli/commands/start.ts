import { num, parse, type Command } from '../common.js';
import { serve } from './serve.js';

const HELP = `flowvox start [--port 8080] [--host 127.0.0.1] [--json]
  The main job: serves the streaming player at http://127.0.0.1:8080/ with the bundled voice
  (models/default), or — until a trained voice is there — with an untrained fallback model, and says
  which. Same as "flowvox serve" with its defaults; see flowvox serve --help for every option.`;

export const command: Command = {
  summary: 'the main job: the streaming synthesis server and player on the bundled voice',
  async run(argv) {
    const o = parse(argv, { port: { type: 'string' }, host: { type: 'string', default: '127.0.0.1' } }, HELP);
    return serve({ host: o.host, port: num(o.port, 'port', 8080, { min: 0, max: 65535, int: true }), json: o.json, backend: o.backend });
  },
};
