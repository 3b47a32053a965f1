#!/usr/bin/env node
// Checks the layering in docs/ARCHITECTURE.md: a module under src/ may import its own folder or folders of a
// lower layer, never a higher one. Exits non-zero listing each violation.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const LAYERS = {
  codec: 0,
  topic: 0,
  config: 0,
  hooks: 1,
  session: 1,
  router: 1,
  retain: 1,
  broker: 1,
  persistence: 1, // Store interface (domain) and its backends (memory, lmdb), which import nothing higher
  protocol: 2,
  sys: 2, // $SYS topics and client events (broker, hooks)
  metrics: 2, // Prometheus /metrics over HTTP (broker, hooks)
  auth: 2.5, // authentication, ACL, limits: attached through hooks by the server
  server: 3,
  transport: 3, // listeners: tcp, tls, ws, wss, PROXY protocol (the server composes them)
  client: 3, // MQTT client for the CLI tools; imports codec only
  cli: 4,
  '.': 4, // src/index.ts
};
// Pure bottom modules import nothing else of ours.
const ISOLATED = new Set(['codec', 'topic', 'config']);

const src = resolve(new URL('..', import.meta.url).pathname, 'src');
const files = [];
(function walk(d) {
  for (const n of readdirSync(d)) {
    const p = join(d, n);
    if (statSync(p).isDirectory()) walk(p);
    else if (p.endsWith('.ts')) files.push(p);
  }
})(src);

const moduleOf = (file) => {
  const rel = relative(src, file);
  return rel.includes('/') ? rel.split('/')[0] : '.';
};

const problems = [];
for (const f of files) {
  const from = moduleOf(f);
  if (!(from in LAYERS))
    problems.push(`${relative(src, f)}: folder "${from}" has no layer in scripts/check-deps.mjs`);
  const text = readFileSync(f, 'utf8');
  for (const m of text.matchAll(/(?:import|export)[^'"]*?from\s+['"](\.[^'"]+)['"]/g)) {
    const target = resolve(dirname(f), m[1]);
    if (!target.startsWith(src)) continue;
    const to = moduleOf(target);
    if (to === from) continue;
    if (ISOLATED.has(from))
      problems.push(`${relative(src, f)}: ${from}/ must not import ${to}/ (it is a pure module)`);
    else if ((LAYERS[to] ?? 99) > (LAYERS[from] ?? -1)) {
      problems.push(
        `${relative(src, f)}: ${from}/ (layer ${LAYERS[from]}) imports ${to}/ (layer ${LAYERS[to]})`,
      );
    }
  }
}
if (problems.length > 0) {
  console.error(`dependency rules broken:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`dependency rules hold (${files.length} files)`);
