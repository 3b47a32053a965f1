// Config loading: YAML text -> validated, defaulted PetrelConfig, with errors that name file, key path and line.
// Validation walks the typebox schema itself (rather than formatting typebox's generic errors) so every message
// says what was expected and what was given, and unknown keys get a "did you mean" suggestion.
import { accessSync, constants, readFileSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { KindGuard, type TObject, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { AUTH_FILE_KEYS } from './auth-schema.js';
import { LogSchema, type PetrelConfig, PetrelConfigSchema, TcpListenerSchema } from './schema.js';

/** One problem in a config: `path` is a key path such as `mqtt.max_inflight` or `listeners[1].port` ('' = whole file). */
export interface ConfigProblem {
  path: string;
  message: string;
  line?: number;
}

export interface ConfigOverrides {
  host?: string;
  port?: number;
  /** Port of the first ws listener (one is added on 127.0.0.1 when there is none). */
  wsPort?: number;
  logLevel?: string;
}

export interface LoadConfigOptions {
  file?: string;
  overrides?: ConfigOverrides;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly code = 'ERR_PETREL_CONFIG';
  readonly file?: string;
  /** Key path of the first problem. */
  readonly path: string;
  /** Line (1-based) of the first problem, when known. */
  readonly line?: number;
  /** Every problem found, in file order. */
  readonly problems: readonly ConfigProblem[];

  /** `source` replaces the file name in messages (e.g. 'command-line option --port'). */
  constructor(problems: readonly ConfigProblem[], file?: string, source?: string) {
    if (problems.length === 0) throw new TypeError('ConfigError needs at least one problem');
    super(problems.map((p) => formatProblem(p, source ?? file)).join('\n'));
    this.file = file;
    this.problems = problems;
    this.path = problems[0]!.path;
    this.line = problems[0]!.line;
  }
}

function formatProblem(p: ConfigProblem, where: string | undefined): string {
  let head = 'config error';
  if (where !== undefined) head += ` in ${where}${p.line !== undefined ? `:${p.line}` : ''}`;
  else if (p.line !== undefined) head += ` at line ${p.line}`;
  return `${head}: ${p.path === '' ? '' : `${p.path}: `}${p.message}`;
}

type Segment = string | number;

function formatPath(path: readonly Segment[]): string {
  let s = '';
  for (const seg of path) s += typeof seg === 'number' ? `[${seg}]` : s === '' ? seg : `.${seg}`;
  return s;
}

// ---------------------------------------------------------------------------------------------------------
// Suggestions

function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** The closest candidate: a case-insensitive match, else the nearest within edit distance 2. */
export function suggest(input: string, candidates: readonly string[]): string | undefined {
  const lower = input.toLowerCase();
  const ci = candidates.find((c) => c.toLowerCase() === lower);
  if (ci !== undefined) return ci;
  let best: string | undefined;
  let bestDist = 3;
  for (const c of candidates) {
    const d = levenshtein(lower, c.toLowerCase());
    if (d < bestDist) {
      best = c;
      bestDist = d;
    }
  }
  return best;
}

// ---------------------------------------------------------------------------------------------------------
// Validation against the schema

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (isPlainObject(v)) return 'a mapping';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return `a value of type ${typeof v}`;
}

function literalText(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

function numberExpectation(kind: 'an integer' | 'a number', min?: number, max?: number): string {
  if (min !== undefined && max !== undefined) return `${kind} from ${min} to ${max}`;
  if (min !== undefined) return `${kind} >= ${min}`;
  if (max !== undefined) return `${kind} <= ${max}`;
  return kind;
}

/** Literal values of a union made only of literals (an enum), else undefined. */
function enumValues(schema: TSchema): unknown[] | undefined {
  if (!KindGuard.IsUnion(schema)) return undefined;
  if (!schema.anyOf.every((s) => KindGuard.IsLiteral(s))) return undefined;
  return schema.anyOf.map((s) => (s as { const: unknown }).const);
}

/**
 * Variants by `type` for a union of objects discriminated on `type`, else undefined. An object with a literal
 * `type` counts as a one-member union (typebox collapses `Type.Union([X])` to `X`).
 */
function discriminatedVariants(schema: TSchema): Map<unknown, TObject> | undefined {
  if (KindGuard.IsObject(schema)) {
    const tag = schema.properties.type;
    return tag !== undefined && KindGuard.IsLiteral(tag) ? new Map([[tag.const, schema]]) : undefined;
  }
  if (!KindGuard.IsUnion(schema)) return undefined;
  const out = new Map<unknown, TObject>();
  for (const s of schema.anyOf) {
    if (!KindGuard.IsObject(s)) return undefined;
    const tag = s.properties.type;
    if (tag === undefined || !KindGuard.IsLiteral(tag)) return undefined;
    out.set(tag.const, s);
  }
  return out;
}

type Locate = (path: readonly Segment[], atKey: boolean) => number | undefined;

class Validator {
  readonly problems: ConfigProblem[] = [];
  constructor(private readonly locate: Locate) {}

  private fail(path: readonly Segment[], message: string, atKey = false): undefined {
    this.problems.push({ path: formatPath(path), message, line: this.locate(path, atKey) });
    return undefined;
  }

  /** Returns the resolved value (defaults filled in); records problems and returns undefined on error. */
  resolve(schema: TSchema, value: unknown, path: readonly Segment[]): unknown {
    const values = enumValues(schema);
    if (values !== undefined) {
      if (values.includes(value)) return value;
      const hint =
        typeof value === 'string'
          ? suggest(
              value,
              values.filter((v) => typeof v === 'string'),
            )
          : undefined;
      return this.fail(
        path,
        `expected one of ${values.map(literalText).join(', ')}, got ${describe(value)}` +
          (hint !== undefined ? ` (did you mean ${JSON.stringify(hint)}?)` : ''),
      );
    }
    const variants = discriminatedVariants(schema);
    if (variants !== undefined) {
      if (value === null && 'default' in schema) value = structuredClone(schema.default);
      if (!isPlainObject(value)) return this.fail(path, `expected a mapping, got ${describe(value)}`);
      const allowed = [...variants.keys()].map(literalText).join(', ');
      if (value.type === undefined)
        return this.fail([...path, 'type'], `required key missing (one of ${allowed})`);
      const variant = variants.get(value.type);
      if (variant === undefined) {
        return this.fail([...path, 'type'], `expected one of ${allowed}, got ${describe(value.type)}`);
      }
      return this.resolveObject(variant, value, path);
    }
    if (KindGuard.IsRecord(schema)) {
      // A mapping of free-form keys to values of one schema (e.g. shared subscription group → strategy).
      if (value === null) value = {};
      if (!isPlainObject(value)) return this.fail(path, `expected a mapping, got ${describe(value)}`);
      const item = Object.values(schema.patternProperties)[0] as TSchema;
      const out: Record<string, unknown> = {};
      let ok = true;
      for (const [k, v] of Object.entries(value)) {
        const r = this.resolve(item, v, [...path, k]);
        if (r === undefined) ok = false;
        else out[k] = r;
      }
      return ok ? out : undefined;
    }
    if (
      KindGuard.IsUnion(schema) &&
      schema.anyOf.length === 2 &&
      schema.anyOf.some((s) => KindGuard.IsNull(s))
    ) {
      // A nullable section (e.g. `http: null` turns the HTTP listener off).
      if (value === null) return null;
      return this.resolve(schema.anyOf.find((s) => !KindGuard.IsNull(s))!, value, path);
    }
    if (KindGuard.IsObject(schema)) return this.resolveObject(schema, value, path);
    if (KindGuard.IsArray(schema)) {
      if (!Array.isArray(value)) {
        const hint = value === null ? ' (write [] for an empty list)' : '';
        return this.fail(path, `expected a list, got ${describe(value)}${hint}`);
      }
      const out: unknown[] = [];
      let ok = true;
      value.forEach((item, i) => {
        const r = this.resolve(schema.items, item, [...path, i]);
        if (r === undefined) ok = false;
        out.push(r);
      });
      return ok ? out : undefined;
    }
    if (KindGuard.IsInteger(schema) || KindGuard.IsNumber(schema)) {
      const integer = KindGuard.IsInteger(schema);
      const min = typeof schema.minimum === 'number' ? schema.minimum : undefined;
      const max = typeof schema.maximum === 'number' ? schema.maximum : undefined;
      const ok =
        typeof value === 'number' &&
        Number.isFinite(value) &&
        (!integer || Number.isInteger(value)) &&
        (min === undefined || value >= min) &&
        (max === undefined || value <= max);
      if (ok) return value;
      const quoted = typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value));
      return this.fail(
        path,
        `expected ${numberExpectation(integer ? 'an integer' : 'a number', min, max)}, got ${describe(value)}` +
          (quoted ? ' (a string: remove the quotes)' : ''),
      );
    }
    if (KindGuard.IsString(schema)) {
      if (typeof value !== 'string') return this.fail(path, `expected a string, got ${describe(value)}`);
      if (typeof schema.minLength === 'number' && value.length < schema.minLength) {
        return this.fail(path, `expected a non-empty string, got ${describe(value)}`);
      }
      return value;
    }
    if (KindGuard.IsBoolean(schema)) {
      if (typeof value === 'boolean') return value;
      const quoted = value === 'true' || value === 'false';
      return this.fail(
        path,
        `expected a boolean (true or false), got ${describe(value)}${quoted ? ' (a string: remove the quotes)' : ''}`,
      );
    }
    if (KindGuard.IsLiteral(schema)) {
      if (value === schema.const) return value;
      return this.fail(path, `expected ${literalText(schema.const)}, got ${describe(value)}`);
    }
    throw new Error(`config schema: unsupported schema kind at ${formatPath(path) || '(root)'}`);
  }

  private resolveObject(schema: TObject, value: unknown, path: readonly Segment[]): unknown {
    if (value === null) value = {}; // an empty section (`mqtt:` with every key commented out)
    if (!isPlainObject(value)) return this.fail(path, `expected a mapping, got ${describe(value)}`);
    const known = Object.keys(schema.properties);
    let ok = true;
    for (const key of Object.keys(value)) {
      if (Object.hasOwn(schema.properties, key)) continue;
      ok = false;
      const hint = suggest(key, known);
      this.fail(
        [...path, key],
        hint !== undefined
          ? `unknown key (did you mean "${hint}"?)`
          : `unknown key (allowed: ${known.join(', ')})`,
        true,
      );
    }
    const out: Record<string, unknown> = {};
    for (const key of known) {
      const prop = schema.properties[key]!;
      let v = value[key];
      if (v === undefined) {
        if ('default' in prop) v = structuredClone(prop.default);
        else if (KindGuard.IsOptional(prop)) continue;
        else {
          ok = false;
          this.fail([...path, key], 'required key missing');
          continue;
        }
      }
      const r = this.resolve(prop, v, [...path, key]);
      if (r === undefined) ok = false;
      else out[key] = r;
    }
    return ok ? out : undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------
// YAML

function problemError(problems: ConfigProblem[], file?: string, source?: string): ConfigError {
  const sorted = problems
    .map((p, i) => ({ p, i }))
    .sort(
      (a, b) => (a.p.line ?? Number.POSITIVE_INFINITY) - (b.p.line ?? Number.POSITIVE_INFINITY) || a.i - b.i,
    )
    .map((x) => x.p);
  return new ConfigError(sorted, file, source);
}

/** Parse and validate YAML config text; `file` is only used in error messages. */
export function parseConfig(text: string, file?: string, options: ParseOptions = {}): PetrelConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw problemError(
      doc.errors.map((e) => ({
        path: '',
        message: `YAML syntax error: ${e.message}`,
        line: lineCounter.linePos(e.pos[0]).line,
      })),
      file,
    );
  }

  const lineOf = (node: Node | null | undefined): number | undefined =>
    node?.range ? lineCounter.linePos(node.range[0]).line : undefined;

  // Line of the deepest node that exists along `path` (a missing key reports its parent's line).
  const locate: Locate = (path, atKey) => {
    let node: unknown = doc.contents;
    let line = lineOf(doc.contents);
    for (let i = 0; i < path.length; i++) {
      const seg = path[i]!;
      let next: unknown;
      let keyNode: unknown;
      if (typeof seg === 'number' && isSeq(node)) next = node.items[seg];
      else if (typeof seg === 'string' && isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === seg);
        if (pair) {
          keyNode = pair.key;
          next = pair.value;
        }
      }
      if (next === undefined && keyNode === undefined) break;
      const last = i === path.length - 1;
      const keyLine = lineOf(keyNode as Node | undefined);
      const valueLine = next === null ? undefined : lineOf(next as Node | undefined);
      line = (last && atKey ? keyLine : (valueLine ?? keyLine)) ?? line;
      node = next;
    }
    return line;
  };

  const raw = doc.toJS({ maxAliasCount: 100 }) as unknown;
  const v = new Validator(locate);
  const config = v.resolve(PetrelConfigSchema, raw ?? {}, []);
  if (v.problems.length > 0 || config === undefined) throw problemError(v.problems, file);
  if (!Value.Check(PetrelConfigSchema, config)) {
    throw new Error('config: resolved configuration does not match its schema (a bug in src/config)');
  }
  const fileProblems = resolveTlsFiles(
    config,
    file === undefined ? process.cwd() : dirname(resolvePath(file)),
    locate,
    options.checkFiles === true,
  );
  fileProblems.push(
    ...resolveAuthFiles(config, file === undefined ? process.cwd() : dirname(resolvePath(file)), locate),
  );
  if (fileProblems.length > 0) throw problemError(fileProblems, file);
  return config;
}

/**
 * TLS listeners name files: resolve each against `base` (the config file's folder) and, with `check` (start-up
 * through loadConfig), check it is readable, so a missing certificate is reported with its key and line.
 */
function resolveTlsFiles(
  config: PetrelConfig,
  base: string,
  locate: Locate,
  check: boolean,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  config.listeners.forEach((l, i) => {
    if (l.type !== 'tls' && l.type !== 'wss') return;
    for (const key of ['cert', 'key', 'ca'] as const) {
      const name = l[key];
      if (name === undefined) continue;
      const abs = resolvePath(base, name);
      l[key] = abs;
      if (!check) continue;
      try {
        accessSync(abs, constants.R_OK);
      } catch (err) {
        const what = key === 'key' ? 'private key' : key === 'ca' ? 'CA certificates' : 'certificate';
        problems.push({
          path: formatPath(['listeners', i, key]),
          message: `${readProblem(err).replace('config file', `${what} file "${abs}"`)}`,
          line: locate(['listeners', i, key], false),
        });
      }
    }
  });
  return problems;
}

/** Files named by the auth / acl sections: resolved against `base`, checked readable. */
function resolveAuthFiles(config: PetrelConfig, base: string, locate: Locate): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const path of AUTH_FILE_KEYS) {
    let parent = config as unknown as Record<string, unknown> | undefined;
    for (const seg of path.slice(0, -1)) parent = parent?.[seg] as Record<string, unknown> | undefined;
    const key = path[path.length - 1]!;
    const name = parent?.[key];
    if (parent === undefined || typeof name !== 'string') continue;
    const abs = resolvePath(base, name);
    try {
      accessSync(abs, constants.R_OK);
      parent[key] = abs;
    } catch (err) {
      problems.push({
        path: formatPath(path),
        message: readProblem(err).replace('config file', `file "${abs}"`),
        line: locate(path, false),
      });
    }
  }
  return problems;
}

export interface ParseOptions {
  /** Check that files the config names (TLS certificates and keys) are readable (loadConfig does). */
  checkFiles?: boolean;
}

export function defaultConfig(): PetrelConfig {
  return parseConfig('');
}

function readProblem(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return 'cannot read config file: no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'cannot read config file: permission denied';
  if (code === 'EISDIR') return 'cannot read config file: it is a directory';
  return `cannot read config file: ${err instanceof Error ? err.message : String(err)}`;
}

function checkOverride(schema: TSchema, value: unknown, path: Segment[], option: string): unknown {
  const v = new Validator(() => undefined);
  const r = v.resolve(schema, value, path);
  if (v.problems.length > 0) throw new ConfigError(v.problems, undefined, `command-line option ${option}`);
  return r;
}

/**
 * Read the config file (defaults when `file` is undefined), then apply command-line overrides:
 * `host`/`port` set the first tcp listener (one is added when there is none), `logLevel` sets `log.level`.
 */
export function loadConfig(opts: LoadConfigOptions = {}): PetrelConfig {
  let config: PetrelConfig;
  if (opts.file === undefined) config = defaultConfig();
  else {
    let text: string;
    try {
      text = readFileSync(opts.file, 'utf8');
    } catch (err) {
      throw new ConfigError([{ path: '', message: readProblem(err) }], opts.file);
    }
    config = parseConfig(text, opts.file, { checkFiles: true });
  }

  const o = opts.overrides ?? {};
  if (o.logLevel !== undefined) {
    config.log.level = checkOverride(
      LogSchema.properties.level,
      o.logLevel,
      ['log', 'level'],
      '--log-level',
    ) as PetrelConfig['log']['level'];
  }
  if (o.host !== undefined || o.port !== undefined) {
    let index = config.listeners.findIndex((l) => l.type === 'tcp');
    if (index === -1) {
      // Same bind address as the built-in default listener: loopback unless asked otherwise.
      config.listeners.push({
        type: 'tcp',
        host: '127.0.0.1',
        port: 1883,
        max_connections: 0,
        proxy_protocol: false,
      });
      index = config.listeners.length - 1;
    }
    const listener = config.listeners[index]!;
    if (o.host !== undefined) {
      const p = TcpListenerSchema.properties.host;
      listener.host = checkOverride(p, o.host, ['listeners', index, 'host'], '--host') as string;
    }
    if (o.port !== undefined) {
      const p = TcpListenerSchema.properties.port;
      listener.port = checkOverride(p, o.port, ['listeners', index, 'port'], '--port') as number;
    }
  }
  if (o.wsPort !== undefined) {
    let index = config.listeners.findIndex((l) => l.type === 'ws');
    if (index === -1) {
      config.listeners.push({
        type: 'ws',
        host: '127.0.0.1',
        port: 8083,
        path: '/mqtt',
        max_connections: 0,
        proxy_protocol: false,
      });
      index = config.listeners.length - 1;
    }
    const p = TcpListenerSchema.properties.port;
    config.listeners[index]!.port = checkOverride(
      p,
      o.wsPort,
      ['listeners', index, 'port'],
      '--ws-port',
    ) as number;
  }
  return config;
}
