#!/usr/bin/env node
// `npm run build`: bundles the browser player (client/) into dist/client/ with esbuild.
// The build logic lives in src/cli/build-client.ts (shared with `flowvox serve`), loaded through tsx.
import { register } from 'tsx/esm/api';

register();
const { buildClient } = await import('../src/cli/build-client.ts');
try {
  const r = await buildClient({ minify: !process.argv.includes('--no-minify') });
  console.log(`built ${r.dir} in ${r.ms} ms: ${r.files.join(', ')}`);
} catch (e) {
  console.error(e instanceof Error ? e.message : String(e));
  process.exitCode = 1;
}
