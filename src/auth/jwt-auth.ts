/**
 * JWT authentication with `jose`: the token comes in the CONNECT's password (or username). Keys: an HMAC
 * secret (HS256/384/512), a PEM public key, and/or a JWKS file. `exp` is required and enforced; `username` and
 * `clientid` claims, when present, must match the CONNECT. Claims may carry `superuser: true` and an `acl`
 * claim: EMQX 5 style `[{permission, action, topic, qos?, retain?}]` or EMQX 4 style `{pub, sub, all}` lists.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose';
import { ConfigError } from '../config/index.js';
import type { AclAction, AclRule } from './acl.js';
import type { ProviderAnswer } from './http-auth.js';

export interface JwtConfig {
  secret?: string;
  public_key_file?: string;
  jwks_file?: string;
  from: 'password' | 'username';
}

/** Reads and parses a key file; a ConfigError naming the key and the file when it can't be read or parsed. */
function keyFile<T>(path: string, file: string, what: string, parse: (text: string) => T): T {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([{ path, message: `cannot read "${file}": ${(e as Error).message}` }]);
  }
  try {
    return parse(text);
  } catch (e) {
    throw new ConfigError([{ path, message: `expected ${what} in "${file}": ${(e as Error).message}` }]);
  }
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

function algorithmsFor(key: KeyObject): string[] {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
    case 'rsa-pss':
      return ['PS256', 'PS384', 'PS512'];
    case 'ec':
      return ['ES256', 'ES384', 'ES512'];
    case 'ed25519':
    case 'ed448':
      return ['EdDSA', 'Ed25519'];
    default:
      return [];
  }
}

export class JwtVerifier {
  private readonly getKey: JWTVerifyGetKey;
  private readonly algorithms: string[];

  constructor(readonly cfg: JwtConfig) {
    const secret = cfg.secret !== undefined ? new TextEncoder().encode(cfg.secret) : undefined;
    const pub =
      cfg.public_key_file !== undefined
        ? keyFile('auth.jwt.public_key_file', cfg.public_key_file, 'a PEM public key', (t) =>
            createPublicKey(t),
          )
        : undefined;
    const jwks =
      cfg.jwks_file !== undefined
        ? keyFile('auth.jwt.jwks_file', cfg.jwks_file, 'a JSON Web Key Set', (t) =>
            createLocalJWKSet(JSON.parse(t) as Parameters<typeof createLocalJWKSet>[0]),
          )
        : undefined;
    if (secret === undefined && pub === undefined && jwks === undefined)
      throw new ConfigError([
        { path: 'auth.jwt', message: 'set one of secret, public_key_file or jwks_file' },
      ]);
    const pubAlgs = pub !== undefined ? algorithmsFor(pub) : [];
    this.algorithms = [
      ...(secret !== undefined ? ['HS256', 'HS384', 'HS512'] : []),
      ...pubAlgs,
      ...(jwks !== undefined
        ? [
            'RS256',
            'RS384',
            'RS512',
            'PS256',
            'PS384',
            'PS512',
            'ES256',
            'ES384',
            'ES512',
            'EdDSA',
            'Ed25519',
          ]
        : []),
    ];
    this.getKey = async (header, token) => {
      const alg = header.alg ?? '';
      if (alg.startsWith('HS')) {
        if (secret === undefined) throw new Error('no HMAC secret configured');
        return secret;
      }
      if (jwks !== undefined && (header.kid !== undefined || pub === undefined)) return jwks(header, token);
      if (pub !== undefined && pubAlgs.includes(alg)) return pub;
      if (jwks !== undefined) return jwks(header, token);
      throw new Error(`no key for algorithm ${alg}`);
    };
  }

  /** `ignore` when the field holds no JWT (so other providers may answer); deny when a JWT fails. */
  async verify(
    clientId: string,
    username: string | undefined,
    password: Buffer | undefined,
  ): Promise<ProviderAnswer> {
    const token = this.cfg.from === 'password' ? password?.toString('utf8') : username;
    if (token === undefined || !JWT_SHAPE.test(token)) return { result: 'ignore' };
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.getKey, {
        algorithms: this.algorithms,
        requiredClaims: ['exp'],
      }));
    } catch (e) {
      return { result: 'deny', reason: `invalid token: ${e instanceof Error ? e.message : String(e)}` };
    }
    if (this.cfg.from === 'password' && typeof payload.username === 'string' && payload.username !== username)
      return { result: 'deny', reason: 'token username differs' };
    if (typeof payload.clientid === 'string' && payload.clientid !== clientId)
      return { result: 'deny', reason: 'token client id differs' };
    let rules: AclRule[] | undefined;
    if (payload.acl !== undefined) {
      rules = claimRules(payload.acl);
      if (rules === undefined) return { result: 'deny', reason: 'malformed acl claim' };
    }
    return {
      result: 'allow',
      superuser: payload.superuser === true || payload.is_superuser === true,
      rules,
      expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : undefined,
    };
  }
}

const ACTIONS = new Set(['publish', 'subscribe', 'all']);

/** ACL rules from an `acl` claim; undefined when it is malformed. */
export function claimRules(acl: unknown): AclRule[] | undefined {
  const out: AclRule[] = [];
  if (Array.isArray(acl)) {
    for (const [i, r] of acl.entries()) {
      if (typeof r !== 'object' || r === null) return undefined;
      const o = r as Record<string, unknown>;
      const action = o.action ?? 'all';
      if (
        (o.permission !== 'allow' && o.permission !== 'deny') ||
        typeof action !== 'string' ||
        !ACTIONS.has(action) ||
        typeof o.topic !== 'string' ||
        o.topic === ''
      )
        return undefined;
      const qos = o.qos === undefined ? undefined : Array.isArray(o.qos) ? o.qos : [o.qos];
      if (qos !== undefined && !qos.every((q) => q === 0 || q === 1 || q === 2)) return undefined;
      if (o.retain !== undefined && typeof o.retain !== 'boolean') return undefined;
      out.push({
        permission: o.permission,
        action: action as AclAction,
        topic: o.topic,
        qos: qos as number[] | undefined,
        retain: o.retain as boolean | undefined,
        source: `token acl[${i}]`,
      });
    }
    return out;
  }
  if (typeof acl === 'object' && acl !== null) {
    const o = acl as Record<string, unknown>;
    for (const [key, action] of [
      ['pub', 'publish'],
      ['sub', 'subscribe'],
      ['all', 'all'],
    ] as const) {
      const list = Object.hasOwn(o, key) ? o[key] : undefined;
      if (list === undefined) continue;
      if (!Array.isArray(list) || !list.every((t) => typeof t === 'string' && t !== '')) return undefined;
      for (const t of list as string[])
        out.push({ permission: 'allow', action, topic: t, source: `token acl.${key}` });
    }
    return out;
  }
  return undefined;
}
