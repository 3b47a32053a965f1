/**
 * SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as MQTT 5 enhanced authentication mechanisms, server
 * side, against the SCRAM credentials of the password file (StoredKey / ServerKey, never the password).
 *
 * CONNECT (Authentication Data = client-first) → AUTH 0x18 (server-first) → AUTH 0x18 (client-final) →
 * CONNACK 0x00 (server-final "v=…"); re-authentication is the same after AUTH 0x19. No channel binding:
 * the GS2 header must be "n,," or "y,," ("p=…" is refused with 0x87). Passwords are prepared with SASLprep
 * (RFC 4013, as RFC 5802 §2.2 / RFC 7677 ask) before the keys are derived; the user name of the client-first is
 * prepared as a query string and must then equal the CONNECT User Name, so that one account has one MQTT name
 * for ACLs and bans. Unknown users and users without SCRAM
 * credentials get a server-first with a salt derived from a per-process secret and the same work as known
 * users, and fail at the proof, so neither answers nor timing tell whether a user exists.
 */
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import saslprep from '@mongodb-js/saslprep';
import { ReasonCode } from '../codec/index.js';
import type { AuthContext, AuthExchange, AuthStep, EnhancedAuthMechanism } from '../hooks/enhanced-auth.js';

const pbkdf2Async = promisify(pbkdf2);

export type ScramHash = 'sha256' | 'sha512';

export const SCRAM_METHODS: Record<string, ScramHash> = {
  'SCRAM-SHA-256': 'sha256',
  'SCRAM-SHA-512': 'sha512',
};

/** What `petrel passwd` uses: RFC 7677 asks for at least 4096. */
export const SCRAM_ITERATIONS = 10_000;

/** One hash's SCRAM credentials. */
export interface ScramKeys {
  storedKey: Buffer;
  serverKey: Buffer;
}

/** A user's SCRAM credentials: one salt and iteration count, keys for both hashes. */
export interface ScramCredentials {
  iterations: number;
  salt: Buffer;
  sha256: ScramKeys;
  sha512: ScramKeys;
}

const hmac = (h: ScramHash, key: Buffer, data: Buffer | string): Buffer =>
  createHmac(h, key).update(data).digest();
const digest = (h: ScramHash, data: Buffer): Buffer => createHash(h).update(data).digest();

/** StoredKey and ServerKey from a salted password (RFC 5802 §3). */
export function scramKeys(h: ScramHash, salted: Buffer): ScramKeys {
  return {
    storedKey: digest(h, hmac(h, salted, 'Client Key')),
    serverKey: hmac(h, salted, 'Server Key'),
  };
}

/** A string SASLprep refuses (a prohibited or, in stored strings, unassigned character; bad bidi; empty). */
export class SaslprepError extends Error {
  readonly code = 'ERR_SASLPREP';
}

/**
 * SASLprep (RFC 4013) of `text`, which names `what` in errors. `query`: unassigned code points are allowed
 * (user names received from a client, RFC 5802 §5.1); stored strings (passwords, user names in the password
 * file) refuse them. The error names the first offending character when one alone is refused.
 */
export function prepare(text: string, what: string, query = false): string {
  let out: string;
  try {
    out = saslprep(text, { allowUnassigned: query });
  } catch (e) {
    const bad = [...text].find((ch) => {
      try {
        saslprep(ch, { allowUnassigned: query });
        return false;
      } catch {
        return true;
      }
    });
    const which =
      bad !== undefined ? `U+${bad.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}` : undefined;
    const why = which !== undefined ? `character ${which} is not allowed` : (e as Error).message;
    throw new SaslprepError(`${what} is not valid under SASLprep (RFC 4013): ${why}`);
  }
  if (out === '') throw new SaslprepError(`${what} is empty after SASLprep (RFC 4013)`);
  return out;
}

/** New SCRAM credentials for `password` (SASLprep applied; random 16-byte salt). Throws SaslprepError. */
export async function scramCredentials(
  password: string,
  iterations = SCRAM_ITERATIONS,
): Promise<ScramCredentials> {
  const salt = randomBytes(16);
  const pw = Buffer.from(prepare(password, 'password'), 'utf8');
  const [s256, s512] = await Promise.all([
    pbkdf2Async(pw, salt, iterations, 32, 'sha256'),
    pbkdf2Async(pw, salt, iterations, 64, 'sha512'),
  ]);
  return { iterations, salt, sha256: scramKeys('sha256', s256), sha512: scramKeys('sha512', s512) };
}

/** The password-file form: `$scram$<iterations>$<salt>$<StoredKey256>$<ServerKey256>$<StoredKey512>$<ServerKey512>`. */
export function formatScram(c: ScramCredentials): string {
  const b = (x: Buffer): string => x.toString('base64');
  return `$scram$${c.iterations}$${b(c.salt)}$${b(c.sha256.storedKey)}$${b(c.sha256.serverKey)}$${b(c.sha512.storedKey)}$${b(c.sha512.serverKey)}`;
}

const B64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Parses the form `formatScram` writes; undefined when malformed. */
export function parseScram(text: string): ScramCredentials | undefined {
  const f = text.split('$');
  if (f.length !== 8 || f[0] !== '' || f[1] !== 'scram' || !/^\d{1,8}$/.test(f[2]!)) return undefined;
  const iterations = Number(f[2]);
  if (iterations < 1) return undefined;
  if (!f.slice(3).every((x) => B64.test(x))) return undefined;
  const [salt, sk256, sv256, sk512, sv512] = f.slice(3).map((x) => Buffer.from(x, 'base64')) as [
    Buffer,
    Buffer,
    Buffer,
    Buffer,
    Buffer,
  ];
  if (sk256.length !== 32 || sv256.length !== 32 || sk512.length !== 64 || sv512.length !== 64)
    return undefined;
  return {
    iterations,
    salt,
    sha256: { storedKey: sk256, serverKey: sv256 },
    sha512: { storedKey: sk512, serverKey: sv512 },
  };
}

/** Where the mechanism finds credentials and what it does around the exchange. */
export interface ScramStore {
  /** The user's credentials; undefined for unknown users and users without SCRAM data. */
  lookup(username: string): ScramCredentials | undefined;
  /** The iteration count shown for unknown users (the file's usual one). */
  usualIterations(): number;
  /** Checked before anything else at CONNECT (bans, rates); a `fail` step ends the exchange. */
  gate?(ctx: AuthContext): AuthStep | undefined;
  /** Called on success at CONNECT (not re-authentication). */
  granted?(ctx: AuthContext, username: string): void;
}

/** Decodes a saslname (`=2C` → `,`, `=3D` → `=`); undefined when malformed. */
function saslName(s: string): string | undefined {
  if (/=(?!2C|3D)/.test(s)) return undefined;
  return s.replaceAll('=2C', ',').replaceAll('=3D', '=');
}

/** `k=value` attributes of a SCRAM message, in order; undefined when malformed. */
function attributes(msg: string): [string, string][] | undefined {
  const out: [string, string][] = [];
  for (const part of msg.split(',')) {
    const m = /^([A-Za-z])=(.*)$/s.exec(part);
    if (m === null) return undefined;
    out.push([m[1]!, m[2]!]);
  }
  return out;
}

const PRINTABLE = /^[\x21-\x2b\x2d-\x7e]+$/;

const processSecret = randomBytes(32);

export function scramMechanism(method: string, store: ScramStore): EnhancedAuthMechanism {
  const h = SCRAM_METHODS[method];
  if (h === undefined) throw new Error(`unknown SCRAM method ${method}`);
  const keyLen = h === 'sha256' ? 32 : 64;
  return {
    method,
    begin(ctx: AuthContext): AuthExchange {
      const badCredentials = ctx.reauth ? ReasonCode.NotAuthorized : ReasonCode.BadUserNameOrPassword;
      const refuse = (reason: string, reasonCode: number = ReasonCode.NotAuthorized): AuthStep => ({
        result: 'fail',
        reasonCode,
        reason: `${method}: ${reason}`,
      });
      let state:
        | {
            gs2: string;
            clientFirstBare: string;
            serverFirst: string;
            nonce: string;
            username: string;
            keys: ScramKeys;
            known: boolean;
          }
        | undefined;
      let done = false;

      const first = (data: Buffer | undefined): AuthStep => {
        const gate = ctx.reauth ? undefined : store.gate?.(ctx);
        if (gate !== undefined) return gate;
        if (data === undefined || data.length === 0) return refuse('missing client-first message');
        const text = data.toString('utf8');
        const m = /^([npy])(=[^,]*)?,(a=[^,]*)?,(.*)$/s.exec(text);
        if (m === null) return refuse('malformed client-first message');
        if (m[1] === 'p') return refuse('channel binding is not supported');
        if (m[2] !== undefined) return refuse('malformed GS2 header');
        const attrs = attributes(m[4]!);
        if (attrs === undefined || attrs.length < 2 || attrs[0]![0] !== 'n' || attrs[1]![0] !== 'r')
          return refuse('malformed client-first message');
        if (attrs.slice(2).some(([k]) => k === 'm')) return refuse('unsupported mandatory extension');
        const name = saslName(attrs[0]![1]);
        const cnonce = attrs[1]![1];
        if (name === undefined || name === '') return refuse('malformed user name');
        let username: string;
        try {
          username = prepare(name, 'user name', true);
        } catch (e) {
          return refuse((e as Error).message);
        }
        if (!PRINTABLE.test(cnonce)) return refuse('malformed nonce');
        if (m[3] !== undefined && saslName(m[3].slice(2)) !== name)
          return refuse('authorization identity differs from the user name');
        // The SCRAM user, prepared, is the client's MQTT user: ACLs, bans and logs see that one name.
        if (ctx.username !== username)
          return refuse('user name (after SASLprep) differs from the CONNECT User Name');
        const creds = store.lookup(username);
        const salt = creds?.salt ?? hmac('sha256', processSecret, `${method}\0${username}`).subarray(0, 16);
        const iterations = creds?.iterations ?? store.usualIterations();
        const keys = creds?.[h] ?? { storedKey: randomBytes(keyLen), serverKey: randomBytes(keyLen) };
        const nonce = cnonce + randomBytes(18).toString('base64');
        const serverFirst = `r=${nonce},s=${salt.toString('base64')},i=${iterations}`;
        state = {
          gs2: text.slice(0, text.length - m[4]!.length),
          clientFirstBare: m[4]!,
          serverFirst,
          nonce,
          username,
          keys,
          known: creds !== undefined,
        };
        return { result: 'continue', data: Buffer.from(serverFirst) };
      };

      const final = (data: Buffer | undefined): AuthStep => {
        const s = state!;
        if (data === undefined) return refuse('missing client-final message');
        const text = data.toString('utf8');
        const attrs = attributes(text);
        if (attrs === undefined || attrs.length < 3) return refuse('malformed client-final message');
        const [c, r] = attrs;
        const p = attrs[attrs.length - 1]!;
        if (c![0] !== 'c' || r![0] !== 'r' || p[0] !== 'p') return refuse('malformed client-final message');
        if (c![1] !== Buffer.from(s.gs2).toString('base64')) return refuse('channel binding data differs');
        if (r![1] !== s.nonce) return refuse('nonce differs');
        if (!B64.test(p[1])) return refuse('malformed proof');
        const proof = Buffer.from(p[1], 'base64');
        const withoutProof = text.slice(0, text.length - p[1].length - 3);
        const authMessage = `${s.clientFirstBare},${s.serverFirst},${withoutProof}`;
        const clientSignature = hmac(h, s.keys.storedKey, authMessage);
        let ok = proof.length === keyLen;
        const clientKey = Buffer.alloc(keyLen);
        for (let i = 0; i < keyLen; i++) clientKey[i] = (proof[i] ?? 0) ^ clientSignature[i]!;
        ok = timingSafeEqual(digest(h, clientKey), s.keys.storedKey) && ok && s.known;
        if (!ok) return refuse('bad user name or password', badCredentials);
        if (!ctx.reauth) store.granted?.(ctx, s.username);
        const serverSignature = hmac(h, s.keys.serverKey, authMessage);
        return { result: 'success', data: Buffer.from(`v=${serverSignature.toString('base64')}`) };
      };

      return {
        step(data) {
          if (done) return refuse('exchange already finished');
          const out = state === undefined ? first(data) : final(data);
          if (out.result !== 'continue') done = true;
          return out;
        },
      };
    },
  };
}
