/**
 * Static files for the player (dist/client/) and the bundled samples (audio/ under /audio/),
 * GET/HEAD only. Paths are percent-decoded, normalised and confined to their root — also after
 * resolving symlinks — so `..`, encoded `%2e%2e`, backslashes and NUL bytes cannot leave it.
 */
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, posix, resolve, sep } from 'node:path';

export const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.wav': 'audio/wav',
  '.npy': 'application/octet-stream',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
};

export interface StaticRoot {
  /** URL prefix ending in '/', e.g. '/audio/'. */
  prefix: string;
  dir: string;
  /** Served for the prefix itself ('/' → index.html). */
  index?: string;
}

export type StaticResult = { status: 200; path: string; size: number; type: string } | { status: 400 | 403 | 404; reason: string };

/** Maps a URL path to a file inside one of the roots, or says why not. */
export async function resolveStatic(urlPath: string, roots: StaticRoot[]): Promise<StaticResult> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return { status: 400, reason: 'malformed percent-encoding' };
  }
  if (decoded.includes('\0')) return { status: 400, reason: 'NUL in path' };
  if (decoded.includes('\\')) return { status: 403, reason: 'backslash in path' };
  // Refuse any '..' segment outright rather than silently resolving it.
  if (decoded.split('/').includes('..')) return { status: 403, reason: 'path leaves the served directory' };
  const norm = posix.normalize(decoded);
  const root = roots.filter((r) => norm.startsWith(r.prefix) || norm === r.prefix.slice(0, -1)).sort((a, b) => b.prefix.length - a.prefix.length)[0];
  if (!root) return { status: 404, reason: 'not found' };
  let rel = norm.slice(root.prefix.length);
  if (rel === '' || rel.endsWith('/')) rel += root.index ?? 'index.html';
  const base = resolve(root.dir);
  const file = resolve(base, join('.', rel));
  if (file !== base && !file.startsWith(base + sep)) return { status: 403, reason: 'path leaves the served directory' };
  try {
    const real = await realpath(file);
    const realBase = await realpath(base);
    if (!real.startsWith(realBase + sep)) return { status: 403, reason: 'link leaves the served directory' };
    const st = await stat(real);
    if (!st.isFile()) return { status: 404, reason: 'not a file' };
    return { status: 200, path: real, size: st.size, type: CONTENT_TYPES[extname(real).toLowerCase()] ?? 'application/octet-stream' };
  } catch {
    return { status: 404, reason: 'not found' };
  }
}

/** Answers a GET/HEAD from the roots (403/404/400 with a reason when it cannot). */
export async function serveStatic(req: IncomingMessage, res: ServerResponse, roots: StaticRoot[]): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
    return;
  }
  const rawPath = (req.url ?? '/').split('?')[0]!;
  const r = await resolveStatic(rawPath, roots);
  if (r.status !== 200) {
    res.writeHead(r.status, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' }).end(`${r.status}: ${r.reason}\n`);
    return;
  }
  res.writeHead(200, { 'Content-Type': r.type, 'Content-Length': r.size, 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-cache' });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const stream = createReadStream(r.path);
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}
