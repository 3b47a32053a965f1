#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type PetrelConfig } from '../config/index.js';
import { PetrelServer } from '../server/server.js';

const USAGE = `Usage: petrel <command> [options]

Commands:
  start [--config FILE] [--host HOST] [--port PORT] [--log-level LEVEL]
        Start the broker. Without a config file it listens on TCP 127.0.0.1:1883,
        anonymous access, local only. Flags override the file.
  help  Show this text.
`;

async function start(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', short: 'c' },
      host: { type: 'string' },
      port: { type: 'string', short: 'p' },
      'log-level': { type: 'string' },
    },
    strict: true,
  });
  let port: number | undefined;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!/^\d+$/.test(values.port)) {
      process.stderr.write(`petrel: --port expects an integer from 0 to 65535, got "${values.port}"\n`);
      process.exit(2);
    }
  }
  let config: PetrelConfig;
  try {
    config = loadConfig({
      file: values.config,
      overrides: { host: values.host, port, logLevel: values['log-level'] },
    });
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`petrel: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const server = new PetrelServer(config);
  try {
    await server.listen();
  } catch (e) {
    server.logger.fatal({ err: e }, 'listen_failed');
    process.stderr.write(`petrel: cannot listen: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  }
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    server.logger.info({ signal }, 'shutting_down');
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  switch (cmd) {
    case 'start':
    case undefined:
      return start(rest);
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return;
    default:
      process.stderr.write(`petrel: unknown command "${cmd}"\n\n${USAGE}`);
      process.exit(2);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`petrel: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
