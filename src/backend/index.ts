/**
 * Run-time choice of the TensorFlow.js backend (Node only).
 *
 * Order of preference: tfjs-node-gpu → tfjs-node → wasm → cpu. The native packages are optional
 * dependencies: they cannot install where libtensorflow cannot be downloaded, so each is probed
 * with a dynamic import and skipped when missing. `FLOWVOX_BACKEND` (or the CLI's `--backend`)
 * forces one.
 */
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core registers no gradients by itself, and its ESM gradient files cannot be loaded by
// Node's resolver (extensionless imports). The union package's Node bundle registers them all
// into the shared tfjs-core instance; browser bundles import
// '@tensorflow/tfjs-core/dist/register_all_gradients' instead.
import '@tensorflow/tfjs';

export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';
export const BACKEND_ORDER: readonly BackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

export interface BackendInfo {
  /** The backend now running. */
  backend: BackendName;
  /** Backends that could be loaded in this process. */
  available: BackendName[];
}

const ALIASES: Record<string, BackendName> = {
  'tensorflow-gpu': 'tensorflow-gpu', 'tfjs-node-gpu': 'tensorflow-gpu', gpu: 'tensorflow-gpu',
  tensorflow: 'tensorflow', 'tfjs-node': 'tensorflow', node: 'tensorflow',
  wasm: 'wasm', cpu: 'cpu',
};

export function parseBackendName(name: string): BackendName {
  const b = ALIASES[name.trim().toLowerCase()];
  if (!b) throw new Error(`unknown backend "${name}"; choose one of ${BACKEND_ORDER.join(', ')}`);
  return b;
}

/** Dynamic import that tolerates a missing optional package. */
async function tryImport(spec: string): Promise<boolean> {
  try {
    await import(spec);
    return true;
  } catch {
    return false;
  }
}

let probed: BackendName[] | null = null;

/** Loads every backend package that is installed and returns the usable ones, best first. */
export async function availableBackends(): Promise<BackendName[]> {
  if (probed) return probed;
  const found: BackendName[] = [];
  // tfjs-node-gpu and tfjs-node register under the same name ('tensorflow'); only one may load.
  if (await tryImport('@tensorflow/tfjs-node-gpu')) found.push('tensorflow-gpu');
  else if (await tryImport('@tensorflow/tfjs-node')) found.push('tensorflow');
  if (await tryImport('@tensorflow/tfjs-backend-wasm')) found.push('wasm');
  if (await tryImport('@tensorflow/tfjs-backend-cpu')) found.push('cpu');
  probed = found;
  return found;
}

function tfName(b: BackendName): string {
  return b === 'tensorflow-gpu' ? 'tensorflow' : b;
}

/**
 * Selects and initialises a backend. `requested` (or `FLOWVOX_BACKEND`) forces one; otherwise the
 * best available wins. Throws a clear error when a forced backend is not installed.
 */
export async function initBackend(requested?: string): Promise<BackendInfo> {
  const available = await availableBackends();
  const want = requested ?? process.env.FLOWVOX_BACKEND;
  const candidates = want ? [parseBackendName(want)] : available;
  for (const b of candidates) {
    if (!available.includes(b)) {
      throw new Error(`backend "${b}" is not available here (available: ${available.join(', ')})`);
    }
    if (await tf.setBackend(tfName(b))) {
      await tf.ready();
      return { backend: b, available };
    }
    if (want) throw new Error(`backend "${b}" failed to initialise`);
  }
  throw new Error('no TensorFlow.js backend could be initialised');
}
