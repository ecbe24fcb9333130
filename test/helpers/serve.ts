/** Starts `flowvox serve … --port 0 --json` as a child process for the end-to-end tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const ROOT = new URL('../..', import.meta.url).pathname;

export interface ServerProcess {
  child: ChildProcess;
  /** http://HOST:PORT/ */
  url: string;
  /** Everything it printed so far. */
  log: () => string;
}

/** Resolves with the server's http URL once it prints its JSON line (rejects after 60 s or on exit). */
export async function startServer(modelDir: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, [join(ROOT, 'bin/flowvox.mjs'), 'serve', '--model', modelDir, '--host', '127.0.0.1', '--port', '0', '--json', ...extra], {
    cwd: ROOT,
    env: { ...process.env, FLOWVOX_BACKEND: process.env.FLOWVOX_BACKEND ?? 'wasm', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not report its URL within 60 s:\n${log}`)), 60_000);
    child.once('exit', (code) => reject(new Error(`server exited with ${code}:\n${log}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      log += line + '\n';
      if (!line.startsWith('{')) return;
      try {
        const j = JSON.parse(line) as { url?: string; port?: number; host?: string };
        const u = j.url ?? (j.port ? `http://${j.host ?? '127.0.0.1'}:${j.port}/` : undefined);
        if (u) {
          clearTimeout(timer);
          resolve(u.replace(/^ws/, 'http'));
        }
      } catch {
        /* not the JSON line */
      }
    });
  });
  return { child, url, log: () => log };
}
