/**
 * `petrel passwd FILE USER [-b PASSWORD] [-D] [--no-scram]`: adds or updates USER in a password file with a
 * Petrel scrypt hash followed by SCRAM-SHA-256/512 credentials (for MQTT 5 enhanced authentication; not with
 * --no-scram), prompting twice on a terminal or reading one line from standard input, or deletes it (-D). Other
 * lines, Mosquitto `$7$` / `$6$` entries included, are kept. The file is replaced atomically, mode 0600.
 * SCRAM keys are derived from the password after SASLprep (RFC 4013); a password SASLprep refuses, or a user
 * name SASLprep would change (SCRAM clients send the prepared form), is refused unless --no-scram.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { formatScram, hashPassword, SaslprepError, saslprep, scramCredentials } from '../auth/index.js';

const USAGE = 'Usage: petrel passwd FILE USER [-b PASSWORD] [-D] [--no-scram]\n';

function fail(msg: string, code = 2): never {
  process.stderr.write(`petrel passwd: ${msg}\n`);
  process.exit(code);
}

async function readHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let s = '';
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    const on = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') {
          stdin.setRawMode(false);
          stdin.pause();
          stdin.off('data', on);
          process.stderr.write('\n');
          resolve(s);
          return;
        }
        if (ch === '\u0003') {
          stdin.setRawMode(false);
          reject(new Error('interrupted'));
          return;
        }
        if (ch === '\u007f') s = s.slice(0, -1);
        else s += ch;
      }
    };
    stdin.on('data', on);
  });
}

async function readPassword(): Promise<string> {
  if (process.stdin.isTTY) {
    const a = await readHidden('Password: ');
    const b = await readHidden('Reenter password: ');
    if (a !== b) fail('passwords do not match', 1);
    return a;
  }
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    rl.close();
    return line;
  }
  fail('no password on standard input', 1);
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      batch: { type: 'string', short: 'b' },
      delete: { type: 'boolean', short: 'D' },
      'no-scram': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
  });
}

export async function passwd(argv: string[]): Promise<void> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (e) {
    fail(`${(e as Error).message}\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    process.stdout.write(USAGE);
    return;
  }
  if (positionals.length !== 2) fail(`expected FILE and USER\n${USAGE}`);
  const [file, user] = positionals as [string, string];
  if (user === '' || user.includes(':') || /[\r\n]/.test(user))
    fail('USER must be non-empty without ":" or line breaks');
  let lines: string[] = [];
  if (existsSync(file)) {
    try {
      lines = readFileSync(file, 'utf8').split(/\r?\n/);
    } catch (e) {
      fail(`cannot read ${file}: ${(e as Error).message}`, 1);
    }
    if (lines[lines.length - 1] === '') lines.pop();
  }
  const index = lines.findIndex((l) => l.slice(0, l.lastIndexOf(':')) === user);
  if (values.delete === true) {
    if (index < 0) fail(`user "${user}" is not in ${file}`, 1);
    lines.splice(index, 1);
  } else {
    const password = values.batch ?? (await readPassword());
    let scram = '';
    if (values['no-scram'] !== true) {
      try {
        const prepared = saslprep(user, 'user name');
        if (prepared !== user)
          fail(
            `user name "${user}" becomes "${prepared}" under SASLprep (RFC 4013), the form SCRAM clients send: add it as "${prepared}" (or use --no-scram)`,
          );
        scram = formatScram(await scramCredentials(password));
      } catch (e) {
        if (e instanceof SaslprepError) fail(`${e.message} (or use --no-scram)`);
        throw e;
      }
    }
    const entry = `${user}:${await hashPassword(password)}${scram}`;
    if (index >= 0) lines[index] = entry;
    else lines.push(entry);
  }
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, lines.length > 0 ? `${lines.join('\n')}\n` : '', { mode: 0o600 });
  renameSync(tmp, file);
}
