/**
 * Password files, one `username:hash` a line, as Mosquitto's `mosquitto_passwd` writes them:
 * - `$7$<iterations>$<salt b64>$<hash b64>`: PBKDF2-HMAC-SHA512, 64-byte key (mosquitto_passwd's default);
 * - `$6$<salt b64>$<hash b64>`: SHA512(password ‖ salt) (Mosquitto 1.6 and earlier);
 * plus Petrel's own `$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt b64>$<hash b64>` (what `petrel passwd` writes).
 * Any of them may be followed by SCRAM credentials, `$scram$<iterations>$<salt>$<StoredKey-256>$<ServerKey-256>
 * $<StoredKey-512>$<ServerKey-512>` (all base64, no spaces; see scram.ts), which `petrel passwd` appends.
 */
import { createHash, pbkdf2, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { parseScram, SCRAM_ITERATIONS, type ScramCredentials } from './scram.js';

const pbkdf2Async = promisify(pbkdf2);
const scryptAsync = promisify(scrypt) as (
  pw: Buffer,
  salt: Buffer,
  len: number,
  opts: { N: number; r: number; p: number; maxmem: number },
) => Promise<Buffer>;

export type PasswordHash =
  | { kind: 'pbkdf2-sha512'; iterations: number; salt: Buffer; hash: Buffer }
  | { kind: 'sha512'; salt: Buffer; hash: Buffer }
  | { kind: 'scrypt'; ln: number; r: number; p: number; salt: Buffer; hash: Buffer };

const B64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Parses one hash field; undefined when the format is unknown or malformed. */
export function parseHash(text: string): PasswordHash | undefined {
  const f = text.split('$');
  if (f[0] !== '') return undefined;
  if (f[1] === '7' && f.length === 5) {
    const iterations = Number(f[2]);
    if (!Number.isInteger(iterations) || iterations < 1 || iterations > 10_000_000) return undefined;
    if (!B64.test(f[3]!) || !B64.test(f[4]!)) return undefined;
    return {
      kind: 'pbkdf2-sha512',
      iterations,
      salt: Buffer.from(f[3]!, 'base64'),
      hash: Buffer.from(f[4]!, 'base64'),
    };
  }
  if (f[1] === '6' && f.length === 4) {
    if (!B64.test(f[2]!) || !B64.test(f[3]!)) return undefined;
    return { kind: 'sha512', salt: Buffer.from(f[2]!, 'base64'), hash: Buffer.from(f[3]!, 'base64') };
  }
  if (f[1] === 'scrypt' && f.length === 5) {
    const m = /^ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})$/.exec(f[2]!);
    if (m === null || !B64.test(f[3]!) || !B64.test(f[4]!)) return undefined;
    const ln = Number(m[1]);
    const r = Number(m[2]);
    const p = Number(m[3]);
    if (ln < 1 || ln > 20 || r < 1 || p < 1) return undefined;
    return {
      kind: 'scrypt',
      ln,
      r,
      p,
      salt: Buffer.from(f[3]!, 'base64'),
      hash: Buffer.from(f[4]!, 'base64'),
    };
  }
  return undefined;
}

async function derive(h: PasswordHash, password: Buffer): Promise<Buffer> {
  switch (h.kind) {
    case 'pbkdf2-sha512':
      return pbkdf2Async(password, h.salt, h.iterations, h.hash.length || 64, 'sha512');
    case 'sha512':
      return createHash('sha512').update(password).update(h.salt).digest();
    case 'scrypt': {
      const N = 2 ** h.ln;
      return scryptAsync(password, h.salt, h.hash.length || 64, {
        N,
        r: h.r,
        p: h.p,
        maxmem: 256 * N * h.r + 1_048_576,
      });
    }
  }
}

/** Whether `password` matches `h` (constant-time comparison). */
export async function verifyHash(h: PasswordHash, password: Buffer): Promise<boolean> {
  const got = await derive(h, password);
  return got.length === h.hash.length && timingSafeEqual(got, h.hash);
}

/** A new Petrel scrypt hash (N = 2^15, r = 8, p = 1, 16-byte salt, 64-byte key). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const h: PasswordHash = { kind: 'scrypt', ln: 15, r: 8, p: 1, salt, hash: Buffer.alloc(64) };
  const key = await derive(h, Buffer.from(password, 'utf8'));
  return `$scrypt$ln=15,r=8,p=1$${salt.toString('base64')}$${key.toString('base64')}`;
}

export interface PasswordFileProblem {
  line: number;
  message: string;
}

/** Parses password file text. Lines that are blank or start with `#` are skipped; bad lines are reported. */
export function parsePasswordFile(text: string): {
  users: Map<string, PasswordHash>;
  scram: Map<string, ScramCredentials>;
  problems: PasswordFileProblem[];
} {
  const users = new Map<string, PasswordHash>();
  const scram = new Map<string, ScramCredentials>();
  const problems: PasswordFileProblem[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.lastIndexOf(':');
    if (colon <= 0) {
      problems.push({ line: i + 1, message: 'expected username:hash' });
      continue;
    }
    const field = line.slice(colon + 1);
    const at = field.indexOf('$scram$');
    const h = parseHash(at < 0 ? field : field.slice(0, at));
    if (h === undefined) {
      problems.push({ line: i + 1, message: 'unknown or malformed hash (expected $7$, $6$ or $scrypt$)' });
      continue;
    }
    const sc = at < 0 ? undefined : parseScram(field.slice(at));
    if (at >= 0 && sc === undefined) {
      problems.push({ line: i + 1, message: 'malformed $scram$ credentials' });
      continue;
    }
    users.set(line.slice(0, colon), h);
    if (sc !== undefined) scram.set(line.slice(0, colon), sc);
  }
  return { users, scram, problems };
}

/** Outcome of a password check. */
export type PasswordCheck = 'ok' | 'bad' | 'unknown';

/** A loaded password file; `reload()` re-reads it (keeping the old contents if the new ones can't be read). */
export class PasswordFile {
  private users = new Map<string, PasswordHash>();
  private scram = new Map<string, ScramCredentials>();
  private scramIterations = SCRAM_ITERATIONS;
  /** Verified against for unknown users so that timing does not reveal whether a user exists. */
  private dummy: PasswordHash = {
    kind: 'pbkdf2-sha512',
    iterations: 101,
    salt: Buffer.alloc(12),
    hash: Buffer.alloc(64),
  };

  /** Problems of bad lines found by the first read. */
  readonly problems: readonly PasswordFileProblem[];

  constructor(readonly file: string) {
    const problems = this.reload();
    if (problems instanceof Error) throw problems;
    this.problems = problems;
  }

  get size(): number {
    return this.users.size;
  }

  /** Re-reads the file. Returns the problems of bad lines, or an Error when the file can't be read. */
  reload(): PasswordFileProblem[] | Error {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (e) {
      return new Error(
        `cannot read password file ${this.file}: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    const { users, scram, problems } = parsePasswordFile(text);
    this.users = users;
    this.scram = scram;
    this.scramIterations = scram.values().next().value?.iterations ?? SCRAM_ITERATIONS;
    // The dummy costs what the most common entry costs.
    const first = users.values().next().value;
    if (first !== undefined) this.dummy = { ...first, hash: Buffer.alloc(first.hash.length) };
    return problems;
  }

  /** The user's SCRAM credentials (undefined: unknown user or no SCRAM data). */
  scramCredentials(username: string): ScramCredentials | undefined {
    return this.scram.get(username);
  }

  /** The iteration count shown to unknown users: the file's first SCRAM entry's. */
  get usualScramIterations(): number {
    return this.scramIterations;
  }

  async check(username: string, password: Buffer | undefined): Promise<PasswordCheck> {
    const h = this.users.get(username);
    const pw = password ?? Buffer.alloc(0);
    if (h === undefined) {
      await verifyHash(this.dummy, pw);
      return 'unknown';
    }
    return (await verifyHash(h, pw)) ? 'ok' : 'bad';
  }
}
