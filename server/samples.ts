/**
 * The bundled samples: audio/index.json (written by `flowvox export-samples`), listed in `hello`
 * and synthesised from their mel .npy (or, lacking one, their WAV). File names from the index are
 * confined to the audio directory.
 */
import { readFile } from 'node:fs/promises';
import { resolve, sep } from 'node:path';
import type { SampleInfo } from '../src/stream/protocol.js';

interface IndexEntry {
  id?: unknown;
  seconds?: unknown;
  lang?: unknown;
  text?: unknown;
  files?: Record<string, unknown>;
}

export interface SampleCatalog {
  samples: SampleInfo[];
  /** The file to synthesise sample `id` from, or null if unknown. */
  source(id: string): { kind: 'npy' | 'wav'; path: string } | null;
}

export async function loadSamples(audioDir: string, urlPrefix = '/audio/'): Promise<SampleCatalog> {
  const base = resolve(audioDir);
  const inside = (name: unknown): string | null => {
    if (typeof name !== 'string' || name.length === 0) return null;
    const p = resolve(base, name);
    return p.startsWith(base + sep) ? p : null;
  };
  let entries: IndexEntry[] = [];
  try {
    const json = JSON.parse(await readFile(resolve(base, 'index.json'), 'utf8')) as { samples?: unknown };
    if (Array.isArray(json.samples)) entries = json.samples as IndexEntry[];
  } catch {
    // No (or an unreadable) index: no samples; uploads still work.
  }
  const samples: SampleInfo[] = [];
  const sources = new Map<string, { kind: 'npy' | 'wav'; path: string }>();
  for (const e of entries) {
    if (typeof e.id !== 'string' || !e.files) continue;
    const mel = inside(e.files.mel);
    const wav = inside(e.files.original);
    if (!mel && !wav) continue;
    const files: Record<string, string> = {};
    for (const [k, v] of Object.entries(e.files)) if (inside(v)) files[k] = urlPrefix + String(v).split('/').map(encodeURIComponent).join('/');
    samples.push({ id: e.id, seconds: typeof e.seconds === 'number' ? e.seconds : 0, lang: typeof e.lang === 'string' ? e.lang : null, text: typeof e.text === 'string' ? e.text : null, files });
    sources.set(e.id, mel ? { kind: 'npy', path: mel } : { kind: 'wav', path: wav! });
  }
  return { samples, source: (id) => sources.get(id) ?? null };
}
