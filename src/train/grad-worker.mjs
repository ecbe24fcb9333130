// Worker entry for ParallelTrainer. A plain .mjs file so Node can start it without a loader;
// it registers tsx (resolved from here, whatever the cwd) and loads the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./grad-worker.ts');
