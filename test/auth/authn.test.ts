import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { hashPassword } from '../../src/auth/index.js';
import { PacketType, type ProtocolVersion } from '../../src/codec/index.js';
import { parseConfig } from '../../src/config/index.js';
import { type ConfigPatch, startBroker, type TestBroker } from '../helpers/broker.js';
import { connackCode, connectOk, expectPacket } from '../helpers/raw.js';
import { security as securityOf } from '../helpers/security.js';

const dir = mkdtempSync(join(tmpdir(), 'petrel-authn-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The security sections of a YAML config, resolved with defaults (as `petrel start -c` would). */
const security = (yaml: string): ConfigPatch => securityOf(yaml, dir);

/** CONNECT with these credentials; returns the CONNACK reason code (3.x codes as their MQTT 5 equivalents). */
const connack = (b: TestBroker, v: ProtocolVersion, username?: string, password?: string, clientId = 'c') =>
  connackCode(
    b,
    v,
    { clientId, username, password: password === undefined ? undefined : Buffer.from(password) },
    true,
  );

describe('auth - password file', () => {
  const pw = join(dir, 'passwords');
  writeFileSync(pw, '');

  test('auth - password file: good, bad, unknown and anonymous clients get the right CONNACK (v5 and 3.1.1)', async () => {
    execFileSync('mosquitto_passwd', ['-b', pw, 'alice', 'wonder']);
    writeFileSync(pw, `${readFileSync(pw, 'utf8')}bob:${await hashPassword('builder')}\n`);
    await using b = await startBroker(security(`auth:\n  password_file: ${pw}\n  allow_anonymous: false\n`));
    assert.equal(await connack(b, 5, 'alice', 'wonder'), 0);
    assert.equal(await connack(b, 5, 'bob', 'builder'), 0);
    assert.equal(await connack(b, 5, 'alice', 'wrong'), 0x86); // Bad User Name or Password
    assert.equal(await connack(b, 5, 'nobody', 'x'), 0x86);
    assert.equal(await connack(b, 5), 0x87); // Not authorized (anonymous)
    assert.equal(await connack(b, 4, 'alice', 'wonder'), 0);
    // 3.1.1 return codes 4 and 5; the test decoder reports them as their MQTT 5 equivalents.
    assert.equal(await connack(b, 4, 'alice', 'wrong'), 0x86);
    assert.equal(await connack(b, 4), 0x87);
  });

  test('auth - password file: changes are picked up without a restart (file watch) and by reload()', async () => {
    const f = join(dir, 'reload.pw');
    writeFileSync(f, `u1:${await hashPassword('one')}\n`);
    await using b = await startBroker(security(`auth:\n  password_file: ${f}\n`));
    assert.equal(await connack(b, 5, 'u2', 'two'), 0x86);
    execFileSync(process.execPath, ['--import', 'tsx', 'src/cli/petrel.ts', 'passwd', f, 'u2', '-b', 'two']);
    const deadline = Date.now() + 5000;
    let rc = 0x86;
    while (rc !== 0 && Date.now() < deadline) {
      rc = await connack(b, 5, 'u2', 'two');
      if (rc !== 0) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(rc, 0, 'the new user is accepted after the file changed');
    b.server.security.reload();
    assert.equal(await connack(b, 5, 'u1', 'one'), 0);
  });

  test('auth - password file: petrel passwd keeps other entries, updates and deletes (-D)', async () => {
    const f = join(dir, 'cli.pw');
    const run = (...a: string[]) =>
      execFileSync(process.execPath, ['--import', 'tsx', 'src/cli/petrel.ts', 'passwd', f, ...a], {
        input: 'pw-from-stdin\n',
      });
    writeFileSync(f, 'm:$7$101$AAAAAAAAAAAAAAAA$AAAA\n');
    run('x', '-b', 'a');
    run('y'); // password from standard input
    run('x', '-b', 'b');
    let text = readFileSync(f, 'utf8');
    assert.equal(text.split('\n').filter((l) => l.startsWith('x:')).length, 1);
    assert.match(text, /^m:\$7\$/m);
    await using b = await startBroker(security(`auth:\n  password_file: ${f}\n`));
    assert.equal(await connack(b, 5, 'y', 'pw-from-stdin'), 0);
    assert.equal(await connack(b, 5, 'x', 'b'), 0);
    run('x', '-D');
    text = readFileSync(f, 'utf8');
    assert.ok(!text.includes('x:'));
  });
});

describe('auth - anonymous default', () => {
  test('auth - anonymous default: true when every listener is loopback; false for a file listening on 0.0.0.0', async () => {
    const { allowAnonymous } = await import('../../src/auth/index.js');
    assert.equal(allowAnonymous(parseConfig('')), true);
    assert.equal(allowAnonymous(parseConfig('listeners:\n  - type: tcp\n    host: 0.0.0.0\n')), false);
    assert.equal(
      allowAnonymous(
        parseConfig('listeners:\n  - type: tcp\n    host: 0.0.0.0\nauth:\n  allow_anonymous: true\n'),
      ),
      true,
    );
    await using b = await startBroker();
    assert.equal(await connack(b, 4), 0);
  });

  test('auth - anonymous default: config errors name the file, key and what was expected', () => {
    assert.throws(
      () => parseConfig('auth:\n  password_file: /nonexistent/pw\n', 'petrel.yaml'),
      /petrel\.yaml:2: auth\.password_file: cannot read file "\/nonexistent\/pw": no such file/,
    );
    assert.throws(
      () => parseConfig('acl:\n  no_match: maybe\n', 'p.yaml'),
      /p\.yaml:2: acl\.no_match: expected one of "allow", "deny"/,
    );
  });
});

describe('auth - http', () => {
  test('auth - http: allow / deny / ignore answers, non-200 and timeouts deny (fail closed)', async () => {
    const seen: unknown[] = [];
    const srv = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const j = JSON.parse(body) as { username: string | null; password: string | null };
        seen.push(j);
        if (j.username === 'slow') return; // never answers
        if (j.username === null) {
          res.writeHead(200).end('{"result":"ignore"}');
          return;
        }
        if (j.username === 'err') {
          res.writeHead(500).end();
          return;
        }
        const result =
          j.username === 'ok' && j.password === 'pw' ? 'allow' : j.username === 'skip' ? 'ignore' : 'deny';
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ result }));
      });
    });
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const port = (srv.address() as AddressInfo).port;
    assert.ok(port > 0);
    try {
      await using b = await startBroker(
        security(`auth:\n  http: { url: "http://127.0.0.1:${port}/auth", timeout_ms: 300 }\n`),
      );
      assert.equal(await connack(b, 5, 'ok', 'pw'), 0);
      assert.equal(await connack(b, 5, 'ok', 'no'), 0x86);
      assert.equal(await connack(b, 5, 'err', 'pw'), 0x86);
      assert.equal(await connack(b, 5, 'slow', 'pw'), 0x86);
      assert.equal(await connack(b, 5, 'skip', 'pw'), 0x86); // nobody else knows the user
      assert.equal(await connack(b, 4), 0); // anonymous (loopback default)
      assert.deepEqual(Object.keys(seen[0] as object).sort(), [
        'cert_common_name',
        'clientid',
        'listener',
        'password',
        'peerhost',
        'peerport',
        'protocol',
        'username',
      ]);
    } finally {
      srv.closeAllConnections();
      srv.close();
    }
  });
});

describe('auth - jwt', () => {
  const secret = 'a-very-long-test-secret-of-32-bytes!';
  const key = new TextEncoder().encode(secret);
  const token = (claims: Record<string, unknown>, exp: number | string = '1h') =>
    new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(exp).sign(key);

  test('auth - jwt: a valid token is accepted; expired, wrong key, alg none and mismatched claims are refused', async () => {
    await using b = await startBroker(
      security(`auth:\n  allow_anonymous: false\n  jwt: { secret: "${secret}" }\n`),
    );
    assert.equal(await connack(b, 5, 'u', await token({ username: 'u' })), 0);
    assert.equal(await connack(b, 5, 'u', await token({}, Math.floor(Date.now() / 1000) - 60)), 0x86);
    assert.equal(await connack(b, 5, 'v', await token({ username: 'u' })), 0x86);
    assert.equal(await connack(b, 5, 'u', await token({ clientid: 'other' })), 0x86);
    const wrong = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('x'.repeat(32)));
    assert.equal(await connack(b, 5, 'u', wrong), 0x86);
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(`{"exp":${Math.floor(Date.now() / 1000) + 60}}`).toString('base64url')}.`;
    assert.equal(await connack(b, 5, 'u', none), 0x86);
    const noExp = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).sign(key);
    assert.equal(await connack(b, 5, 'u', noExp), 0x86);
    assert.equal(await connack(b, 5, 'u', 'not a token'), 0x86);
  });

  test('auth - jwt: the connection ends when the token expires (v5 DISCONNECT 0x87)', async () => {
    await using b = await startBroker(
      security(`auth:\n  allow_anonymous: false\n  jwt: { secret: "${secret}" }\n`),
    );
    const r = await b.raw(5);
    const exp = Math.floor(Date.now() / 1000) + 2;
    r.send({
      type: PacketType.Connect,
      protocolName: 'MQTT',
      protocolVersion: 5,
      clean: true,
      keepAlive: 0,
      clientId: 'short-lived',
      username: 'u',
      password: Buffer.from(await token({ username: 'u' }, exp)),
    });
    const ack = await expectPacket(r, PacketType.Connack);
    assert.equal(ack.reasonCode, 0);
    const t0 = Date.now();
    const d = await expectPacket(r, PacketType.Disconnect, 4000);
    assert.equal(d.reasonCode, 0x87);
    assert.ok(Date.now() - t0 <= 3500, 'closed at the token expiry');
    assert.equal(await r.waitClosed(), true);
  });

  test('auth - jwt: acl claims restrict the client (EMQX style rules)', async () => {
    await using b = await startBroker(security(`auth:\n  jwt: { secret: "${secret}" }\n`));
    const t = await token({
      acl: [
        { permission: 'allow', action: 'subscribe', topic: 'mine/#' },
        { permission: 'deny', action: 'all', topic: '#' },
      ],
    });
    const r = await b.raw(5);
    await connectOk(r, { clientId: 'j', username: 'j', password: Buffer.from(t) });
    r.send({
      type: PacketType.Subscribe,
      packetId: 1,
      subscriptions: [
        { topicFilter: 'mine/x', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 },
        { topicFilter: 'other', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      ],
    });
    const ack = await expectPacket(r, PacketType.Suback);
    assert.deepEqual(ack.reasonCodes, [0, 0x87]);
  });
});
