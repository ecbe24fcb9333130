/**
 * flowvox command-line interface. Each subcommand lives in its own module under ./commands and is
 * loaded on demand, so `flowvox info` does not pay for the vocoder's imports.
 */
import { CliError, type Command } from './common.js';

const COMMANDS: Record<string, () => Promise<{ command: Command }>> = {
  info: () => import('./commands/info.js'),
  start: () => import('./commands/start.js'),
  serve: () => import('./commands/serve.js'),
  density2d: () => import('./commands/density2d.js'),
  'image-density': () => import('./commands/image-density.js'),
  'bench-density2d': () => import('./commands/bench-density2d.js'),
  'bench-synth': () => import('./commands/bench-synth.js'),
  mel: () => import('./commands/mel.js'),
  train: () => import('./commands/train.js'),
  synthesize: () => import('./commands/synthesize.js'),
  play: () => import('./commands/play.js'),
  likelihood: () => import('./commands/likelihood.js'),
  import: () => import('./commands/import.js'),
  convert: () => import('./commands/convert.js'),
  data: () => import('./commands/data.js'),
  evaluate: () => import('./commands/evaluate.js'),
  'tune-latent': () => import('./commands/tune-latent.js'),
  'calibrate-voicing': () => import('./commands/calibrate-voicing.js'),
  card: () => import('./commands/card.js'),
  'export-samples': () => import('./commands/export-samples.js'),
  score: () => import('./commands/score.js'),
  calibrate: () => import('./commands/calibrate.js'),
  detect: () => import('./commands/detect.js'),
  'anomaly-eval': () => import('./commands/anomaly-eval.js'),
};

function usage(): string {
  const lines = ['usage: flowvox <command> [options]   (flowvox <command> --help for its options)', '', 'commands:'];
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    const entries = await Promise.all(Object.entries(COMMANDS).map(async ([n, load]) => [n, (await load()).command.summary] as const));
    console.log(usage() + '\n' + entries.map(([n, s]) => `  ${n.padEnd(16)} ${s}`).join('\n'));
    return name ? 0 : 1;
  }
  if (name === '--version' || name === '-v') {
    const { version } = await import('./common.js');
    console.log(version());
    return 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    console.error(`flowvox: unknown command "${name}"\n${usage()}\n  ${Object.keys(COMMANDS).join(', ')}`);
    return 2;
  }
  const { command } = await load();
  try {
    return (await command.run(rest)) ?? 0;
  } catch (e) {
    if (e instanceof CliError) {
      console.error(`flowvox ${name}: ${e.message}`);
      return e.exitCode;
    }
    const msg = e instanceof Error ? e.message : String(e);
    console.error(`flowvox ${name}: ${msg}`);
    if (process.env.FLOWVOX_DEBUG && e instanceof Error) console.error(e.stack);
    return 1;
  }
}
