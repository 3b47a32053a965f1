/**
 * Authorization rules: the YAML `acl.rules`, a Mosquitto `acl_file`, and rules carried by a JWT, evaluated
 * first match wins. A topic name matches a rule by MQTT filter matching; a subscription filter matches a rule
 * only when the rule's topic covers every topic the filter can reach (as Mosquitto does). What a wide filter
 * such as `#` would bring from denied topics is stopped at delivery, where each message's topic is checked as
 * a read (`subscribe`) of that client.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../config/index.js';
import { AddressRange, covers, matchesTopic } from './match.js';

export type AclAction = 'publish' | 'subscribe' | 'all';

export interface AclRule {
  readonly permission: 'allow' | 'deny';
  readonly action: AclAction;
  /** Topic filter, may hold ${username} ${clientid} ${cert_cn} (and Mosquitto's %u %c). */
  readonly topic: string;
  /** No placeholder expansion (a Mosquitto `topic` line). */
  readonly literal?: boolean;
  /** `null`: only clients without a username (Mosquitto acl_file topics before any `user` line). */
  readonly username?: string | null;
  readonly clientid?: string;
  readonly ip?: AddressRange;
  readonly listener?: string;
  readonly qos?: readonly number[];
  readonly retain?: boolean;
  /** Where the rule comes from, for logs ("acl.rules[2]", "acl.conf:14"). */
  readonly source: string;
}

export interface AclSubject {
  readonly clientId: string;
  readonly username: string | undefined;
  readonly remoteAddress: string;
  readonly listener: string;
  readonly certCommonName?: string | undefined;
}

export interface AclRequest {
  readonly action: 'publish' | 'subscribe';
  /** Topic name (publish) or filter (subscribe; the inner filter of a `$share/...`). */
  readonly topic: string;
  readonly qos: number;
  readonly retain: boolean;
}

const PLACEHOLDER = /\$\{(username|clientid|cert_cn)\}|%([uc])/g;

/**
 * The rule's topic with placeholders replaced; undefined when a value is missing or holds a character that
 * would change the topic's shape (`+`, `#`, `/`, NUL): such a client does not match the rule.
 */
function expand(topic: string, s: AclSubject): string | undefined {
  if (!topic.includes('${') && !topic.includes('%')) return topic;
  let bad = false;
  const out = topic.replace(PLACEHOLDER, (_m, name: string | undefined, short: string | undefined) => {
    const key = name ?? (short === 'u' ? 'username' : 'clientid');
    const v = key === 'username' ? s.username : key === 'clientid' ? s.clientId : s.certCommonName;
    if (v === undefined || v === '' || /[+#/\0]/.test(v)) {
      bad = true;
      return '';
    }
    return v;
  });
  return bad ? undefined : out;
}

function applies(r: AclRule, s: AclSubject, q: AclRequest): boolean {
  if (r.action !== 'all' && r.action !== q.action) return false;
  if (r.username === null ? s.username !== undefined : r.username !== undefined && r.username !== s.username)
    return false;
  if (r.clientid !== undefined && r.clientid !== s.clientId) return false;
  if (r.listener !== undefined && r.listener !== s.listener) return false;
  if (r.ip !== undefined && !r.ip.has(s.remoteAddress)) return false;
  if (r.qos !== undefined && !r.qos.includes(q.qos)) return false;
  if (r.retain !== undefined && q.action === 'publish' && r.retain !== q.retain) return false;
  return true;
}

/** The first rule that matches (its `permission` decides), or undefined when none matches. */
export function evaluate(rules: readonly AclRule[], s: AclSubject, q: AclRequest): AclRule | undefined {
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i]!;
    if (!applies(r, s, q)) continue;
    const topic = r.literal === true ? r.topic : expand(r.topic, s);
    if (topic === undefined) continue;
    let hit: boolean;
    if (q.action === 'publish') hit = matchesTopic(topic, q.topic);
    else hit = covers(topic, q.topic);
    if (hit) return r;
  }
  return undefined;
}

/** The shape of a YAML rule (see AclRuleSchema in src/config/auth-schema.ts). */
export interface AclRuleConfig {
  allow?: AclAction;
  deny?: AclAction;
  topic: string;
  username?: string;
  clientid?: string;
  ip?: string;
  listener?: string;
  qos?: number[];
  retain?: boolean;
}

/** Compiles YAML rules; throws a ConfigError naming `where[i]` for a rule without exactly one of allow / deny. */
export function compileRules(list: readonly AclRuleConfig[], where: string): AclRule[] {
  return list.map((c, i) => {
    const source = `${where}[${i}]`;
    if ((c.allow === undefined) === (c.deny === undefined))
      throw new ConfigError([{ path: source, message: 'expected exactly one of "allow" or "deny"' }]);
    let ip: AddressRange | undefined;
    if (c.ip !== undefined) {
      try {
        ip = new AddressRange(c.ip);
      } catch (e) {
        throw new ConfigError([{ path: `${source}.ip`, message: (e as Error).message }]);
      }
    }
    return {
      permission: c.allow !== undefined ? 'allow' : 'deny',
      action: (c.allow ?? c.deny)!,
      topic: c.topic,
      username: c.username,
      clientid: c.clientid,
      ip,
      listener: c.listener,
      qos: c.qos,
      retain: c.retain,
      source,
    };
  });
}

const ACCESS: Record<string, AclAction> = { read: 'subscribe', write: 'publish', readwrite: 'all' };

/**
 * Parses a Mosquitto acl_file. `topic [read|write|readwrite|deny] TOPIC` lines before any `user` line are for
 * anonymous clients; after `user NAME` for that user; `pattern [access] TOPIC` lines are for everyone, with
 * %u and %c. As in Mosquitto, deny lines are checked before allow lines: user denies, user allows, pattern
 * denies, pattern allows (then no match).
 */
export function parseAclFile(text: string, file: string): AclRule[] {
  const bad = (line: number, message: string): ConfigError =>
    new ConfigError([{ path: 'acl.file', line, message }], file);
  const userDeny: AclRule[] = [];
  const userAllow: AclRule[] = [];
  const patDeny: AclRule[] = [];
  const patAllow: AclRule[] = [];
  let user: string | null = null;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/^\s+/, '').replace(/\s+$/, '');
    if (line === '' || line.startsWith('#')) continue;
    const source = `${file}:${i + 1}`;
    const m = /^(\S+)\s+(.*)$/.exec(line);
    const kw = m?.[1];
    const rest = m?.[2] ?? '';
    if (m === null) throw bad(i + 1, `expected a keyword and a value, got "${line}"`);
    if (kw === 'user') {
      user = rest;
      continue;
    }
    if (kw !== 'topic' && kw !== 'pattern')
      throw bad(i + 1, `expected "user", "topic" or "pattern" lines, got "${kw ?? line}"`);
    const am = /^(read|write|readwrite|deny)\s+(.+)$/.exec(rest);
    const access = am?.[1] ?? 'readwrite';
    const topic = am?.[2] ?? rest;
    if (topic === '') throw bad(i + 1, 'missing topic');
    const rule: AclRule = {
      permission: access === 'deny' ? 'deny' : 'allow',
      action: access === 'deny' ? 'all' : ACCESS[access]!,
      topic,
      // Mosquitto's patterns use %u / %c; plain topic lines are taken literally.
      literal: kw === 'topic',
      username: kw === 'pattern' ? undefined : user,
      source,
    };
    if (kw === 'topic') (rule.permission === 'deny' ? userDeny : userAllow).push(rule);
    else (rule.permission === 'deny' ? patDeny : patAllow).push(rule);
  }
  return [...userDeny, ...userAllow, ...patDeny, ...patAllow];
}

/** Reads and parses an acl_file; a ConfigError (key `acl.file`) when it can't be read or parsed. */
export function loadAclFile(file: string): AclRule[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([{ path: 'acl.file', message: `cannot read "${file}": ${(e as Error).message}` }]);
  }
  return parseAclFile(text, file);
}
