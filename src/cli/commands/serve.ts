import { startServer } from '../../../server/index.js';
import { ensureClientBuilt } from '../build-client.js';
import { chooseModel } from '../../../server/default-model.js';
import { CliError, envelopeFlag, num, parse, printJson, type Command } from '../common.js';

const HELP = `flowvox serve [--model DIR] [--host 127.0.0.1] [--port 8080] [--workers N] [--queue N]
              [--origin LIST] [--token T] [--chunk-frames N] [--envelope N] [--calib FILE] [--json]
  Streams synthesis over WebSocket (ws://HOST:PORT/ws, protocol in src/stream/protocol.ts) and serves
  the player (dist/client/, built by npm run build) and the samples (audio/) on the same port.
  --model     model directory (default models/default, else an untrained fallback model, said so)
  --workers   synthesis worker threads, each with its own model (default: the number of cores)
  --queue     streams admitted to wait behind the running ones (default: workers); beyond: "busy"
  --origin    comma-separated allowed browser origins, e.g. http://example.org:8080, or *
              (default: this host, localhost, 127.0.0.1)
  --token     shared secret: ws://…/ws?token=T or {"type":"auth","token":T} as the first message
  --chunk-frames  fixed chunk size in mel frames (default: grows from small to ≈ 2 × (the context + the post-filter margin))
  --envelope  iterations of mel-envelope matching per chunk (default: the model's config.json
              "synthesis.envelope_iterations"; 0 is the flow's output as it is, and fastest)
  --calib     anomaly calibration for the scoring streams (default: the model's anomaly-calibration.json, if any)
  JSON: one line {url, model, workers, backend, fallback} once listening. Ctrl-C stops.`;

export const command: Command = {
  summary: 'stream synthesis to browsers and players over WebSocket (and serve the player)',
  async run(argv) {
    const o = parse(argv, {
      model: { type: 'string' }, host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string' }, workers: { type: 'string' },
      queue: { type: 'string' }, origin: { type: 'string' }, token: { type: 'string' }, 'chunk-frames': { type: 'string' }, envelope: { type: 'string' }, calib: { type: 'string' },
    }, HELP);
    const port = num(o.port, 'port', 8080, { min: 0, max: 65535, int: true });
    const workers = o.workers === undefined ? undefined : num(o.workers, 'workers', 1, { min: 1, max: 64, int: true });
    const queue = o.queue === undefined ? undefined : num(o.queue, 'queue', 0, { min: 0, max: 1000, int: true });
    const chunkFrames = o['chunk-frames'] === undefined ? undefined : num(o['chunk-frames'], 'chunk-frames', 1, { min: 1, max: 1024, int: true });
    const envelope = envelopeFlag(o.envelope);
    if (o.token !== undefined && o.token.length < 1) throw new CliError('--token must not be empty');
    return serve({ model: o.model, host: o.host, port, workers, queue, chunkFrames, origins: o.origin?.split(',').map((s) => s.trim()).filter(Boolean), token: o.token, json: o.json, backend: o.backend, calibration: o.calib, envelope });
  },
};

export interface ServeArgs {
  model?: string;
  host?: string;
  port?: number;
  workers?: number;
  queue?: number;
  chunkFrames?: number;
  origins?: string[];
  token?: string;
  json?: boolean;
  backend?: string;
  calibration?: string;
  envelope?: number;
}

/** Starts the server and runs until SIGINT/SIGTERM (shared with `flowvox start`). */
export async function serve(a: ServeArgs): Promise<number> {
  // Build the player when dist/client is missing or older than its sources (npm start on a fresh clone).
  await ensureClientBuilt({ log: (line) => process.stderr.write(`${line}\n`) });
  const chosen = await chooseModel(a.model);
  if (!a.json || chosen.fallback) process.stderr.write(`flowvox: ${chosen.note}\n`);
  let server;
  try {
    server = await startServer({ modelDir: chosen.dir, modelName: chosen.name, host: a.host, port: a.port, workers: a.workers, queue: a.queue, chunkFrames: a.chunkFrames, origins: a.origins, token: a.token, backend: a.backend, calibration: a.calibration, envelopeIterations: a.envelope });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EADDRINUSE') throw new CliError(`port ${a.port} is in use; pick another with --port (0: any free port)`);
    throw new CliError(err.message);
  }
  if (a.json) printJson({ url: server.url, model: server.model.name, workers: server.workers, backend: server.backend, fallback: chosen.fallback });
  else {
    console.log(`flowvox: serving ${server.model.name} at ${server.url} (${server.workers} ${server.backend} workers; WebSocket ${server.url.replace(/^http/, 'ws')}ws${a.token ? ', token required' : ''})`);
    if (a.host && a.host !== '127.0.0.1' && a.host !== 'localhost' && a.host !== '::1') process.stderr.write(`flowvox: listening on ${a.host}, reachable from other machines${a.token ? '' : ' — consider --token'}\n`);
  }
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  process.stderr.write('flowvox: shutting down\n');
  await server.close();
  return 0;
}
