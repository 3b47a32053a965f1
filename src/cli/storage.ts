/**
 * `petrel storage check|repair [--data-dir DIR | --config FILE] [--force]`: inspects the embedded store and
 * reports what is wrong (check, read-only), or recovers what is readable (repair). Exit codes: 0 healthy (or
 * repaired), 1 problems found / not repairable / data directory in use, 2 usage errors (no store there).
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/index.js';
import {
  type Finding,
  inspectStore,
  lockHolder,
  repairStore,
  type StoreReport,
} from '../persistence/check.js';
import { StoreError } from '../persistence/store.js';

const USAGE = `Usage: petrel storage check|repair [--data-dir DIR | --config FILE] [--force]
  check   Report what is wrong with the store (read-only). Exit 0 healthy, 1 problems found, 2 usage error.
  repair  Remove what cannot be used (undecodable records, dangling entries and retained topics, orphans).
          Stop the broker first. A file LMDB cannot open is copied to petrel.mdb.corrupt-<time>; nothing else.
  --data-dir DIR   the data directory (default: storage.dir of the config, else ./data)
  --config FILE    read storage.dir from this config file
  --force          check: read the store even while a live broker holds the data directory
`;

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

function describe(f: Finding): string {
  return `  ${f.level === 'error' ? 'error  ' : 'warning'} ${f.db} ${f.key}: ${f.text}`;
}

function summary(r: StoreReport): string {
  const c = r.counts;
  return `${c.sessions} sessions, ${c.messages} messages, ${c.entries} queue entries, ${c.rels} QoS 2 receive ids, ${c.retained} retained`;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'data-dir': { type: 'string' },
      config: { type: 'string', short: 'c' },
      force: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

/** Runs the command; returns the exit code. */
export async function runStorage(argv: string[], io: Io): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (e) {
    io.err(`petrel storage: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    io.out(USAGE);
    return 0;
  }
  const [cmd, ...extra] = positionals;
  if ((cmd !== 'check' && cmd !== 'repair') || extra.length > 0) {
    io.err(
      `petrel storage: expected check or repair${cmd === undefined ? '' : `, got "${[cmd, ...extra].join(' ')}"`}\n${USAGE}`,
    );
    return 2;
  }
  if (values['data-dir'] !== undefined && values.config !== undefined) {
    io.err('petrel storage: give --data-dir or --config, not both\n');
    return 2;
  }
  if (cmd === 'repair' && values.force === true) {
    io.err('petrel storage: repair never runs beside a live broker: --force is for check only\n');
    return 2;
  }
  let dir = values['data-dir'];
  if (dir === undefined) {
    try {
      const st = loadConfig({ file: values.config, overrides: {} }).storage;
      if (st.type !== 'embedded') {
        io.err(
          `petrel storage: the config uses storage type "${st.type}": there is no store on disk to ${cmd}\n`,
        );
        return 2;
      }
      dir = st.dir;
    } catch (e) {
      if (e instanceof ConfigError) {
        io.err(`petrel storage: ${e.message}\n`);
        return 2;
      }
      throw e;
    }
  }
  const holder = lockHolder(dir);
  if (holder !== undefined && !(cmd === 'check' && values.force === true)) {
    io.err(
      `petrel storage: the data directory ${dir} is in use by a running Petrel (pid ${holder}); stop it first${cmd === 'check' ? ' (or --force to read it anyway)' : ''}\n`,
    );
    return 1;
  }
  if (cmd === 'check') return check(dir, io);
  return repair(dir, io);
}

async function check(dir: string, io: Io): Promise<number> {
  const r = await inspectStore(dir);
  io.out(`store: ${r.file}\n`);
  if (r.fatal !== undefined) {
    io.out(`error: ${r.fatal}\n`);
    if (!existsSync(r.file)) return 2;
    io.out('The broker refuses to start on this store. `petrel storage repair` copies the file aside.\n');
    return 1;
  }
  io.out(`format: ${r.format ?? 'not recorded'}\n${summary(r)}\n`);
  const errors = r.findings.filter((x) => x.level === 'error').length;
  const warnings = r.findings.length - errors;
  for (const f of r.findings) io.out(`${describe(f)}\n`);
  if (errors > 0) {
    io.out(
      `${errors} error(s), ${warnings} warning(s): run \`petrel storage repair\` to remove what cannot be used\n`,
    );
    return 1;
  }
  io.out(warnings > 0 ? `healthy, ${warnings} warning(s) (repair removes them)\n` : 'healthy\n');
  return 0;
}

async function repair(dir: string, io: Io): Promise<number> {
  let res: Awaited<ReturnType<typeof repairStore>>;
  try {
    res = await repairStore(dir);
  } catch (e) {
    if (e instanceof StoreError) {
      io.err(`petrel storage: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  const r = res.report;
  io.out(`store: ${r.file}\n`);
  if (r.fatal !== undefined) {
    io.out(`error: ${r.fatal}\n`);
    if (!existsSync(r.file)) return 2;
    if (res.copiedTo !== undefined) {
      io.out(
        `The file cannot be opened, so nothing in it can be recovered by Petrel. A copy is at ${res.copiedTo}.\n` +
          `The broker keeps refusing this store: to start empty, remove ${r.file} (and ${r.file}-lock).\n`,
      );
    }
    return 1;
  }
  const unfixable = r.findings.filter((f) => f.fix === undefined);
  for (const f of res.fixed) {
    io.out(`${f.fix?.op === 'requeue' ? 'requeued' : 'removed '} ${f.db} ${f.key}: ${f.text}\n`);
  }
  if (unfixable.length > 0) {
    for (const f of unfixable) io.out(`${describe(f)}\n`);
    io.out('not repaired: the store was written by another Petrel version or its format record is damaged\n');
    return 1;
  }
  const after = await inspectStore(dir);
  io.out(
    `${res.fixed.length === 0 ? 'nothing to repair' : `${res.fixed.length} record(s) fixed`}; now ${summary(after)}\n`,
  );
  return after.fatal === undefined && after.findings.length === 0 ? 0 : 1;
}

export async function storage(argv: string[]): Promise<void> {
  process.exitCode = await runStorage(argv, {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
  });
}
