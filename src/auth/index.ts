/**
 * Petrel's security features, attached to a broker through its hooks: the authentication chain (bans and
 * limits first, then password file → JWT → HTTP, then the anonymous rule), the ACL (token rules →
 * `acl.rules` → `acl.file` → `acl.no_match`), and per-client limits (subscriptions, message and byte rates).
 */
import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import { ReasonCode } from '../codec/index.js';
import { ConfigError, type PetrelConfig } from '../config/index.js';
import type { ClientInfo } from '../core/client-info.js';
import type { Message } from '../core/message.js';
import type { AuthContext, AuthStep } from '../hooks/enhanced-auth.js';
import {
  ALLOW,
  type AuthenticateRequest,
  type AuthorizeRequest,
  type Decision,
  type Hooks,
  IGNORE,
} from '../hooks/hooks.js';
import { type AclRule, compileRules, evaluate, loadAclFile } from './acl.js';
import { httpAuthenticate, type ProviderAnswer } from './http-auth.js';
import { JwtVerifier } from './jwt-auth.js';
import { Bans, FlappingDetector, TokenBucket } from './limits.js';
import { AddressRange, isLoopback } from './match.js';
import { PasswordFile } from './password-file.js';
import { SCRAM_METHODS, scramMechanism } from './scram.js';

export { hashPassword, PasswordFile, parseHash, parsePasswordFile, verifyHash } from './password-file.js';
export {
  formatScram,
  parseScram,
  prepare as saslprep,
  SaslprepError,
  SCRAM_METHODS,
  scramCredentials,
  scramMechanism,
} from './scram.js';

export interface SecurityLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** What authentication granted a client. */
interface Grant {
  superuser: boolean;
  rules: readonly AclRule[] | undefined;
  /** When the credential stops being valid (JWT `exp`, ms): the connection is closed then. */
  expiresAt?: number;
}

/** Per-connection state, keyed by the connection object (never by client input). */
interface ClientState {
  grant: Grant | undefined;
  expiry?: ReturnType<typeof setTimeout>;
  messages: TokenBucket | undefined;
  bytes: TokenBucket | undefined;
}

const PENDING_TTL_MS = 60_000;

/** The resolved `auth.allow_anonymous`: as configured, else true only when every listener is on loopback. */
export function allowAnonymous(config: PetrelConfig): boolean {
  return config.auth.allow_anonymous ?? config.listeners.every((l) => isLoopback(l.host));
}

export class Security {
  private passwords: PasswordFile | undefined;
  private readonly jwt: JwtVerifier | undefined;
  private yamlRules: AclRule[];
  private fileRules: AclRule[] = [];
  private readonly aclActive: boolean;
  private readonly noMatch: 'allow' | 'deny';
  private readonly superusers: Set<string>;
  private readonly bans: Bans;
  private readonly flapping: FlappingDetector | undefined;
  private readonly connRate = new Map<string, TokenBucket>();
  private readonly perIp = new Map<string, number>();
  /** Addresses max_connections_per_ip does not count (`limits.per_ip_exempt`). */
  private readonly perIpExempt: AddressRange[];
  /** Grants between authentication and `client.connected`, by client id. */
  private readonly pending = new Map<string, { grant: Grant; at: number }>();
  private readonly clients = new WeakMap<ClientInfo, ClientState>();
  private readonly removers: (() => void)[] = [];
  private readonly watchers: FSWatcher[] = [];
  private reloadTimer: ReturnType<typeof setTimeout> | undefined;
  readonly anonymous: boolean;

  constructor(
    readonly hooks: Hooks,
    readonly config: PetrelConfig,
    private readonly log: SecurityLogger,
  ) {
    const a = config.auth;
    const acl = config.acl;
    this.anonymous = allowAnonymous(config);
    if (a.password_file !== undefined) {
      const file = a.password_file;
      try {
        this.passwords = new PasswordFile(file);
      } catch (e) {
        throw new ConfigError([{ path: 'auth.password_file', message: (e as Error).message }]);
      }
      for (const p of this.passwords.problems)
        log.warn({ file, line: p.line, problem: p.message }, 'password_file_bad_line');
      this.watch(file);
      const pw = this.passwords;
      for (const method of Object.keys(SCRAM_METHODS)) {
        this.removers.push(
          hooks.authMechanism(
            scramMechanism(method, {
              lookup: (u) => this.passwords?.scramCredentials(u),
              usualIterations: () => pw.usualScramIterations,
              gate: (ctx) => this.scramGate(ctx),
              granted: (ctx) => this.grant(ctx, false, undefined),
            }),
          ),
        );
      }
    }
    this.jwt = a.jwt !== undefined ? new JwtVerifier(a.jwt) : undefined;
    this.yamlRules = compileRules(acl.rules, 'acl.rules');
    if (acl.file !== undefined) {
      this.fileRules = loadAclFile(acl.file);
      this.watch(acl.file);
    }
    this.aclActive = acl.file !== undefined || acl.rules.length > 0;
    this.noMatch = acl.no_match ?? (this.aclActive ? 'deny' : 'allow');
    this.superusers = new Set(acl.superusers);
    this.bans = new Bans(config.bans);
    const l = config.limits;
    this.perIpExempt = l.per_ip_exempt.map((text, i) => {
      try {
        return new AddressRange(text);
      } catch (e) {
        throw new ConfigError([{ path: `limits.per_ip_exempt[${i}]`, message: (e as Error).message }]);
      }
    });
    this.flapping =
      l.flapping_connects > 0
        ? new FlappingDetector(l.flapping_connects, l.flapping_window_s * 1000)
        : undefined;

    const providers = this.passwords !== undefined || this.jwt !== undefined || a.http !== undefined;
    const gate =
      config.bans.length > 0 ||
      this.flapping !== undefined ||
      l.connection_rate > 0 ||
      l.max_connections_per_ip > 0;
    if (gate) this.removers.push(hooks.decide('client.authenticate', (r) => this.gate(r), 1000));
    if (providers || !this.anonymous)
      this.removers.push(hooks.decide('client.authenticate', (r) => this.authenticate(r), -1000));
    if (
      this.aclActive ||
      this.jwt !== undefined ||
      acl.no_match === 'deny' ||
      l.max_subscriptions_per_client > 0 ||
      l.message_rate > 0 ||
      l.byte_rate > 0
    )
      this.removers.push(hooks.decide('client.authorize', (r) => this.authorize(r), -1000));
    if (this.aclActive || this.jwt !== undefined || acl.no_match === 'deny') {
      // Each delivered message is a read of its topic: `#` granted next to a deny rule still can't reach it.
      const read = (c: ClientInfo, msg: Message): boolean =>
        this.acl({ client: c, action: 'subscribe', topic: msg.topic, qos: msg.qos, retain: msg.retain })
          .result !== 'deny';
      hooks.readFilter = read;
      this.removers.push(() => {
        if (hooks.readFilter === read) hooks.readFilter = undefined;
      });
    }
    this.removers.push(
      hooks.on('client.connected', (c) => {
        const p = this.pending.get(c.clientId);
        this.pending.delete(c.clientId);
        const st = this.state(c);
        st.grant = p?.grant;
        const exp = p?.grant.expiresAt;
        if (exp !== undefined && c.disconnect !== undefined) {
          // The token's `exp` ends the connection too, not only the CONNECT (as EMQX does).
          const end = c.disconnect.bind(c);
          st.expiry = setTimeout(
            () => end(ReasonCode.NotAuthorized, 'token expired'),
            Math.max(0, exp - Date.now()),
          );
          st.expiry.unref();
        }
        if (this.countsPerIp(c.remoteAddress))
          this.perIp.set(c.remoteAddress, (this.perIp.get(c.remoteAddress) ?? 0) + 1);
      }),
    );
    this.removers.push(
      hooks.on('client.disconnected', (c) => {
        const st = this.clients.get(c);
        if (st?.expiry !== undefined) clearTimeout(st.expiry);
      }),
    );
    if (l.max_connections_per_ip > 0) {
      this.removers.push(
        hooks.on('client.disconnected', (c) => {
          if (!this.countsPerIp(c.remoteAddress)) return;
          const n = (this.perIp.get(c.remoteAddress) ?? 1) - 1;
          if (n <= 0) this.perIp.delete(c.remoteAddress);
          else this.perIp.set(c.remoteAddress, n);
        }),
      );
    }
  }

  /** Re-reads the password file and the acl file (SIGHUP, file change). Keeps the old contents on error. */
  reload(): void {
    if (this.passwords !== undefined) {
      const r = this.passwords.reload();
      if (r instanceof Error) this.log.warn({ err: r.message }, 'password_file_reload_failed');
      else {
        for (const p of r)
          this.log.warn(
            { file: this.passwords.file, line: p.line, problem: p.message },
            'password_file_bad_line',
          );
        this.log.info({ file: this.passwords.file, users: this.passwords.size }, 'password_file_loaded');
      }
    }
    const f = this.config.acl.file;
    if (f !== undefined) {
      try {
        this.fileRules = loadAclFile(f);
        this.log.info({ file: f, rules: this.fileRules.length }, 'acl_file_loaded');
      } catch (e) {
        this.log.warn({ file: f, err: e instanceof Error ? e.message : String(e) }, 'acl_file_reload_failed');
      }
    }
  }

  close(): void {
    for (const r of this.removers.splice(0)) r();
    for (const w of this.watchers.splice(0)) w.close();
    if (this.reloadTimer !== undefined) clearTimeout(this.reloadTimer);
  }

  /** Watches the file's folder (editors and mosquitto_passwd replace the file by renaming). */
  private watch(file: string): void {
    try {
      const name = basename(file);
      const w = watch(dirname(file), { persistent: false }, (_ev, f) => {
        if (f !== null && f !== name) return;
        if (this.reloadTimer !== undefined) clearTimeout(this.reloadTimer);
        this.reloadTimer = setTimeout(() => {
          this.reloadTimer = undefined;
          this.reload();
        }, 50);
      });
      w.on('error', () => {});
      this.watchers.push(w);
    } catch (e) {
      this.log.warn({ file, err: e instanceof Error ? e.message : String(e) }, 'file_watch_failed');
    }
  }

  private state(c: ClientInfo): ClientState {
    let s = this.clients.get(c);
    if (s === undefined) {
      const l = this.config.limits;
      s = {
        grant: undefined,
        messages: l.message_rate > 0 ? new TokenBucket(l.message_rate, l.message_burst) : undefined,
        bytes:
          l.byte_rate > 0
            ? new TokenBucket(l.byte_rate, Math.max(l.byte_rate, this.config.mqtt.max_packet_size))
            : undefined,
      };
      this.clients.set(c, s);
    }
    return s;
  }

  /** Whether `max_connections_per_ip` applies to (and counts) this address. */
  private countsPerIp(address: string): boolean {
    return this.config.limits.max_connections_per_ip > 0 && !this.perIpExempt.some((r) => r.has(address));
  }

  /** Bans, flapping, connection rate, connections per IP: checked before any credential. */
  private gate(r: AuthenticateRequest): Decision {
    const v5 = r.protocolVersion === 5;
    const l = this.config.limits;
    if (this.flapping?.hit(r.clientId)) {
      this.bans.banClientId(r.clientId, l.flapping_ban_s * 1000);
      this.log.warn({ clientId: r.clientId, remote: r.remoteAddress }, 'client_flapping_banned');
    }
    if (this.bans.isBanned(r))
      return {
        result: 'deny',
        reasonCode: v5 ? ReasonCode.Banned : ReasonCode.NotAuthorized,
        reason: 'banned',
      };
    if (l.connection_rate > 0) {
      let b = this.connRate.get(r.listener);
      if (b === undefined)
        this.connRate.set(r.listener, (b = new TokenBucket(l.connection_rate, l.connection_burst)));
      if (!b.tryTake())
        return {
          result: 'deny',
          reasonCode: v5 ? ReasonCode.ConnectionRateExceeded : ReasonCode.ServerUnavailable,
          reason: 'connection rate exceeded',
        };
    }
    if (
      this.countsPerIp(r.remoteAddress) &&
      (this.perIp.get(r.remoteAddress) ?? 0) >= l.max_connections_per_ip
    )
      return {
        result: 'deny',
        reasonCode: v5 ? ReasonCode.QuotaExceeded : ReasonCode.ServerUnavailable,
        reason: 'too many connections from this address',
      };
    return IGNORE;
  }

  /** The gate (bans, rates) for an enhanced-authentication CONNECT, which skips `client.authenticate`. */
  private scramGate(ctx: AuthContext): AuthStep | undefined {
    const d = this.gate({ ...ctx, remotePort: 0, protocolVersion: 5, password: undefined });
    if (d.result !== 'deny') return undefined;
    return { result: 'fail', reasonCode: d.reasonCode, reason: d.reason };
  }

  /** The provider chain; the first allow or deny wins; all ignoring → the anonymous rule. */
  private async authenticate(r: AuthenticateRequest): Promise<Decision> {
    const answers: (() => Promise<ProviderAnswer>)[] = [];
    const pw = this.passwords;
    if (pw !== undefined && r.username !== undefined && !(this.jwt?.cfg.from === 'username')) {
      answers.push(async () => {
        const res = await pw.check(r.username!, r.password);
        if (res === 'ok') return { result: 'allow', superuser: false };
        if (res === 'bad') return { result: 'deny', reason: 'bad username or password' };
        return { result: 'ignore' };
      });
    }
    const jwt = this.jwt;
    if (jwt !== undefined) answers.push(() => jwt.verify(r.clientId, r.username, r.password));
    const http = this.config.auth.http;
    if (http !== undefined) answers.push(() => httpAuthenticate(http.url, http.timeout_ms, r));
    for (const ask of answers) {
      const a = await ask();
      if (a.result === 'allow') {
        this.grant(r, a.superuser, a.rules, 'expiresAt' in a ? a.expiresAt : undefined);
        return { result: 'allow', superuser: a.superuser };
      }
      if (a.result === 'deny')
        return { result: 'deny', reasonCode: ReasonCode.BadUserNameOrPassword, reason: a.reason };
    }
    if (r.username !== undefined && answers.length > 0)
      return {
        result: 'deny',
        reasonCode: ReasonCode.BadUserNameOrPassword,
        reason: 'bad username or password',
      };
    if (!this.anonymous)
      return { result: 'deny', reasonCode: ReasonCode.NotAuthorized, reason: 'anonymous access is off' };
    return ALLOW;
  }

  private grant(
    r: { clientId: string },
    superuser: boolean,
    rules: readonly AclRule[] | undefined,
    expiresAt?: number,
  ): void {
    const now = Date.now();
    if (this.pending.size > 10_000) {
      for (const [k, v] of this.pending) if (v.at < now - PENDING_TTL_MS) this.pending.delete(k);
    }
    this.pending.set(r.clientId, { grant: { superuser, rules, expiresAt }, at: now });
  }

  private grantOf(c: ClientInfo): Grant | undefined {
    const s = this.clients.get(c);
    if (s?.grant !== undefined) return s.grant;
    // Between authentication and client.connected (the will check at CONNECT).
    return this.pending.get(c.clientId)?.grant;
  }

  private isSuperuser(c: ClientInfo): boolean {
    return (
      this.grantOf(c)?.superuser === true || (c.username !== undefined && this.superusers.has(c.username))
    );
  }

  private authorize(r: AuthorizeRequest): Decision | Promise<Decision> {
    const l = this.config.limits;
    const c = r.client;
    if (r.action === 'subscribe' && l.max_subscriptions_per_client > 0) {
      const subs = (c as { session?: { subscriptions?: Map<string, unknown> } }).session?.subscriptions;
      if (subs !== undefined && subs.size >= l.max_subscriptions_per_client && !subs.has(r.topic))
        return { result: 'deny', reasonCode: ReasonCode.QuotaExceeded, reason: 'too many subscriptions' };
    }
    const d = this.acl(r);
    if (r.action === 'publish' && d.result !== 'deny' && (l.message_rate > 0 || l.byte_rate > 0)) {
      // Rate limits slow the client down: the answer waits, and the connection stops reading meanwhile.
      const s = this.state(c);
      const wait = Math.max(s.messages?.take(1) ?? 0, s.bytes?.take(r.size ?? 0) ?? 0);
      if (wait > 0) return new Promise((resolve) => setTimeout(() => resolve(d), wait));
    }
    return d;
  }

  private acl(r: AuthorizeRequest): Decision {
    const c = r.client;
    if (this.isSuperuser(c)) return IGNORE;
    if (
      r.action === 'subscribe' &&
      this.config.acl.sys_read === 'superusers' &&
      this.aclActive &&
      (r.topic === '$SYS' || r.topic.startsWith('$SYS/'))
    )
      return this.aclDeny(r, '$SYS is readable by superusers only');
    // The request is the ACL's question as it is (action, topic, QoS, retain): nothing to build per message.
    const tokenRules = this.grantOf(c)?.rules;
    const hit =
      (tokenRules !== undefined ? evaluate(tokenRules, c, r) : undefined) ??
      evaluate(this.yamlRules, c, r) ??
      evaluate(this.fileRules, c, r);
    const permission = hit?.permission ?? this.noMatch;
    if (permission === 'deny')
      return this.aclDeny(r, hit !== undefined ? `denied by ${hit.source}` : 'no ACL rule allows it');
    return IGNORE;
  }

  private aclDeny(r: AuthorizeRequest, reason: string): Decision {
    const acl = this.config.acl;
    const v5 = r.client.protocolVersion === 5;
    return r.action === 'subscribe'
      ? { result: 'deny', reasonCode: v5 ? acl.suback_deny_code : ReasonCode.UnspecifiedError, reason }
      : {
          result: 'deny',
          reasonCode: ReasonCode.NotAuthorized,
          reason,
          disconnect: !v5 && acl.deny_action === 'disconnect',
        };
  }
}

/** Attaches the configured security features to `hooks`. */
export function installSecurity(hooks: Hooks, config: PetrelConfig, log: SecurityLogger): Security {
  return new Security(hooks, config, log);
}
