/**
 * Errors in the auth / acl sections that only show when the server builds them (a bad rule, an unreadable
 * JWT key, a malformed acl_file line) are config errors: `petrel start` prints the file, the key path and
 * the problem, and exits with code 2, as for any other config error.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Security } from '../../src/auth/index.js';
import { ConfigError, parseConfig } from '../../src/config/index.js';
import { Hooks } from '../../src/hooks/hooks.js';

const CLI = new URL('../../src/cli/petrel.ts', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'petrel-authcfg-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** `petrel start -c FILE` with this config; resolves with the exit code and standard error. */
async function start(
  name: string,
  yaml: string,
): Promise<{ code: number | null; stderr: string; file: string }> {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, `listeners: [{ type: tcp, host: 127.0.0.1, port: 0 }]\nhttp: null\n${yaml}`);
  const p = spawn(process.execPath, ['--import', 'tsx', CLI, 'start', '-c', file], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  p.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const timer = setTimeout(() => p.kill('SIGKILL'), 15_000);
  const [code] = (await once(p, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stderr, file };
}

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('auth - config errors', () => {
  test('a bad acl.rules entry: exit 2, "config error in FILE: acl.rules[1].ip: …"', async () => {
    const r = await start(
      'rule',
      'acl:\n  rules:\n    - { allow: all, topic: "a/#" }\n    - { deny: all, topic: "#", ip: 10.0.0.0/33 }\n',
    );
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`^petrel: config error in ${esc(r.file)}: acl\\.rules\\[1\\]\\.ip: .*prefix`),
    );
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });

  test('an unusable JWT key file: exit 2, naming auth.jwt.public_key_file and the key file', async () => {
    const key = join(dir, 'key.pem');
    writeFileSync(key, 'not a key\n');
    const r = await start('jwt', `auth:\n  jwt: { public_key_file: ${key} }\n`);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `config error in ${esc(r.file)}: auth\\.jwt\\.public_key_file: expected a PEM public key in "${esc(key)}"`,
      ),
    );
    const jwks = join(dir, 'jwks.json');
    writeFileSync(jwks, '{ "keys": [');
    const r2 = await start('jwks', `auth:\n  jwt: { jwks_file: ${jwks} }\n`);
    assert.equal(r2.code, 2, r2.stderr);
    assert.match(r2.stderr, /auth\.jwt\.jwks_file: expected a JSON Web Key Set in ".*jwks\.json"/);
  });

  test('a malformed acl_file line: exit 2, "config error in ACLFILE:LINE: acl.file: …"', async () => {
    const acl = join(dir, 'acl.conf');
    writeFileSync(acl, '# rules\ntopic read a/b\ntopik write c\n');
    const r = await start('aclfile', `acl:\n  file: ${acl}\n`);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `^petrel: config error in ${esc(acl)}:3: acl\\.file: expected "user", "topic" or "pattern" lines, got "topik"`,
      ),
    );
  });

  test('the Security constructor throws ConfigError (key path and file) for each kind', () => {
    const log = { info() {}, warn() {} };
    const cfg = (yaml: string) => parseConfig(yaml, join(dir, 'x.yaml'));
    const acl = join(dir, 'acl2.conf');
    writeFileSync(acl, 'user\n');
    const jwks = join(dir, 'bad-jwks.json');
    writeFileSync(jwks, '[]');
    for (const [yaml, path, file] of [
      ['acl:\n  rules: [{ allow: all, deny: all, topic: a }]\n', 'acl.rules[0]', undefined],
      [`acl:\n  file: ${acl}\n`, 'acl.file', acl],
      ['bans: [{ ip: "not-an-ip" }]\n', 'bans[0].ip', undefined],
      ['limits:\n  per_ip_exempt: ["::1", 10.0.0.0/40]\n', 'limits.per_ip_exempt[1]', undefined],
      [`auth:\n  jwt: { jwks_file: ${jwks} }\n`, 'auth.jwt.jwks_file', undefined],
    ] as const) {
      assert.throws(
        () => new Security(new Hooks(), cfg(yaml), log),
        (e: unknown) => e instanceof ConfigError && e.path === path && e.file === file,
        yaml,
      );
    }
  });
});
