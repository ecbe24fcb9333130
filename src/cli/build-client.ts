/**
 * Builds the browser player (client/) into dist/client/ with esbuild: main.js (the page), worklet.js
 * (a separate bundle, since AudioWorklet modules load by URL), index.html and style.css.
 * `ensureClientBuilt()` rebuilds only when an input is newer than the build. Node only.
 */
import { cp, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const CLIENT_SRC = join(ROOT, 'client');
export const CLIENT_DIST = join(ROOT, 'dist', 'client');
/** Written last: lists every input of the build, so staleness covers imported src/ files too. */
const MANIFEST = 'build-manifest.json';
const STATIC_FILES = ['index.html', 'style.css'];

interface Manifest {
  builtAt: number;
  inputs: string[]; // relative to ROOT
}

export interface BuildResult {
  dir: string;
  files: string[];
  ms: number;
}

type EsbuildModule = typeof import('esbuild');

async function loadEsbuild(): Promise<EsbuildModule | null> {
  try {
    return await import('esbuild');
  } catch {
    return null;
  }
}

/**
 * Builds the client into `outDir` (default dist/client). The bundles are written to a temporary
 * sibling directory and renamed into place, so a server never serves a half-written build and two
 * processes building at once do not interleave files.
 */
export async function buildClient(opts: { outDir?: string; minify?: boolean } = {}): Promise<BuildResult> {
  const outDir = opts.outDir ?? CLIENT_DIST;
  const esbuild = await loadEsbuild();
  if (!esbuild) throw new Error('esbuild is not installed, so the browser player cannot be built (run "npm ci" with dev dependencies, then "npm run build")');
  const t0 = performance.now();
  const tmp = `${outDir}.tmp-${process.pid}-${Date.now()}`;
  await mkdir(tmp, { recursive: true });
  try {
    const r = await esbuild.build({
      entryPoints: { main: join(CLIENT_SRC, 'main.ts'), worklet: join(CLIENT_SRC, 'worklet.ts') },
      outdir: tmp,
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: ['es2022'],
      sourcemap: true,
      minify: opts.minify ?? true,
      metafile: true,
      logLevel: 'silent',
      legalComments: 'none',
    });
    for (const f of STATIC_FILES) await cp(join(CLIENT_SRC, f), join(tmp, f));
    const inputs = [...Object.keys(r.metafile.inputs).map((p) => relative(ROOT, resolve(ROOT, p))), ...STATIC_FILES.map((f) => relative(ROOT, join(CLIENT_SRC, f)))];
    const manifest: Manifest = { builtAt: Date.now(), inputs };
    await writeFile(join(tmp, MANIFEST), JSON.stringify(manifest, null, 1) + '\n');
    await mkdir(dirname(outDir), { recursive: true });
    await replaceDir(tmp, outDir);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    const errors = (e as { errors?: { text: string; location?: { file: string; line: number } | null }[] }).errors;
    if (errors?.length) {
      throw new Error(`client build failed:\n${errors.map((x) => `  ${x.location ? `${x.location.file}:${x.location.line}: ` : ''}${x.text}`).join('\n')}`);
    }
    throw e;
  }
  return { dir: outDir, files: (await readdir(outDir)).sort(), ms: Math.round(performance.now() - t0) };
}

/** Moves `from` to `to`, replacing it; if another process put a build there first, keeps theirs. */
async function replaceDir(from: string, to: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    await rm(to, { recursive: true, force: true });
    try {
      await rename(from, to);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || attempt >= 2) throw e;
      if ((await staleReason(to)) === null) {
        await rm(from, { recursive: true, force: true });
        return;
      }
    }
  }
}

async function mtime(path: string): Promise<number> {
  try {
    return (await stat(path)).mtimeMs;
  } catch {
    return Infinity; // a missing input (renamed, deleted) forces a rebuild
  }
}

/** Files under client/ (a new file there is not in the old manifest yet). */
async function clientFiles(dir = CLIENT_SRC): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await clientFiles(p)));
    else out.push(p);
  }
  return out;
}

/** Why dist/client needs a (re)build, or null when it is up to date. */
export async function staleReason(outDir = CLIENT_DIST): Promise<string | null> {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await readFile(join(outDir, MANIFEST), 'utf8')) as Manifest;
  } catch {
    return `${relative(ROOT, outDir)} is missing`;
  }
  const built = (await stat(join(outDir, MANIFEST))).mtimeMs;
  const inputs = new Set([...manifest.inputs.map((p) => join(ROOT, p)), ...(await clientFiles())]);
  for (const p of inputs) if ((await mtime(p)) > built) return `${relative(ROOT, p)} changed`;
  return null;
}

let pending: Promise<string> | null = null;

/**
 * Makes sure dist/client holds an up-to-date build of client/ and returns its absolute path.
 * Rebuilds when the build is missing or any input (client/**, and the src/ files it imports) is
 * newer. Without esbuild (production install), an existing build is used as it is.
 */
export function ensureClientBuilt(opts: { log?: (line: string) => void } = {}): Promise<string> {
  pending ??= (async () => {
    const why = await staleReason();
    if (why === null) return CLIENT_DIST;
    if (!(await loadEsbuild()) && why !== `${relative(ROOT, CLIENT_DIST)} is missing`) {
      opts.log?.(`flowvox: client sources changed (${why}) but esbuild is not installed; serving the existing build`);
      return CLIENT_DIST;
    }
    opts.log?.(`flowvox: building the player (${why})`);
    const r = await buildClient();
    opts.log?.(`flowvox: built ${relative(process.cwd(), r.dir) || r.dir} in ${r.ms} ms`);
    return r.dir;
  })().finally(() => {
    pending = null;
  });
  return pending;
}
