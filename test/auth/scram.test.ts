/**
 * MQTT 5 enhanced authentication with SCRAM-SHA-256 / SCRAM-SHA-512 (RFC 5802, RFC 7677) against a password
 * file written by `petrel passwd`. The client side of SCRAM is written here, by hand, and speaks raw v5
 * packets: CONNECT (client-first) → AUTH 0x18 (server-first) → AUTH 0x18 (client-final) → CONNACK (v=…).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import saslprep from '@mongodb-js/saslprep';
import { type AuthPacket, type Packet, PacketType, ReasonCode } from '../../src/codec/index.js';
import {
  type ConfigPatch,
  connectPacket,
  type RawClient,
  startBroker,
  type TestBroker,
} from '../helpers/broker.js';
import { expectPacket } from '../helpers/raw.js';
import { security as securityOf } from '../helpers/security.js';

const CLI = new URL('../../src/cli/petrel.ts', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'petrel-scram-'));
const pwFile = join(dir, 'passwords');
after(() => rmSync(dir, { recursive: true, force: true }));

type Hash = 'sha256' | 'sha512';
const M256 = 'SCRAM-SHA-256';
const M512 = 'SCRAM-SHA-512';
const hashOf = (method: string): Hash => (method === M512 ? 'sha512' : 'sha256');

const hmac = (h: Hash, key: Buffer, data: string): Buffer => createHmac(h, key).update(data).digest();

/**
 * The client side of one SCRAM exchange (RFC 5802 §3, §5). The user name is sent as given (a client SHOULD
 * prepare it; tests send unprepared ones on purpose); the password is prepared with SASLprep, as RFC 5802 §2.2
 * requires of Normalize(password).
 */
function scramClient(
  method: string,
  user: string,
  password: string,
  cnonce = randomBytes(18).toString('base64'),
  gs2 = 'n,,',
) {
  const h = hashOf(method);
  const bare = `n=${user.replaceAll('=', '=3D').replaceAll(',', '=2C')},r=${cnonce}`;
  return {
    first: `${gs2}${bare}`,
    /** client-final for this server-first, and the server signature the server must send back. */
    final(serverFirst: string, opts: { tamper?: boolean; gs2?: string } = {}) {
      const a = Object.fromEntries(serverFirst.split(',').map((kv) => [kv[0], kv.slice(2)]));
      assert.ok(
        a.r!.startsWith(cnonce) && a.r!.length > cnonce.length,
        'server nonce extends the client nonce',
      );
      const salted = pbkdf2Sync(
        saslprep(password),
        Buffer.from(a.s!, 'base64'),
        Number(a.i),
        h === 'sha256' ? 32 : 64,
        h,
      );
      const clientKey = hmac(h, salted, 'Client Key');
      const storedKey = createHash(h).update(clientKey).digest();
      const withoutProof = `c=${Buffer.from(opts.gs2 ?? gs2).toString('base64')},r=${a.r}`;
      const authMessage = `${bare},${serverFirst},${withoutProof}`;
      const sig = hmac(h, storedKey, authMessage);
      const proof = Buffer.from(clientKey.map((b, i) => b ^ sig[i]!));
      if (opts.tamper) proof[0]! ^= 1;
      return {
        message: `${withoutProof},p=${proof.toString('base64')}`,
        serverFinal: `v=${hmac(h, hmac(h, salted, 'Server Key'), authMessage).toString('base64')}`,
      };
    },
  };
}

function auth(reasonCode: number, method: string, data?: string): AuthPacket {
  return {
    type: PacketType.Auth,
    reasonCode,
    properties: {
      authenticationMethod: method,
      ...(data !== undefined ? { authenticationData: Buffer.from(data) } : {}),
    },
  };
}

function scramConnect(
  method: string,
  username: string | undefined,
  first: string,
  clientId = 'scram',
): Packet {
  return connectPacket(5, {
    clientId,
    username,
    properties: { authenticationMethod: method, authenticationData: Buffer.from(first) },
  });
}

/** The server's AUTH 0x18: returns its Authentication Data (server-first). */
async function serverFirst(r: RawClient, method: string): Promise<string> {
  const p = await expectPacket(r, PacketType.Auth);
  assert.equal(p.reasonCode, ReasonCode.ContinueAuthentication);
  assert.equal(p.properties?.authenticationMethod, method);
  const data = p.properties?.authenticationData?.toString() ?? '';
  assert.match(data, /^r=[\x21-\x2b\x2d-\x7e]+,s=[A-Za-z0-9+/=]+,i=\d+$/);
  return data;
}

/** A whole SCRAM CONNECT; returns the CONNACK and the exchange's details. */
async function scramLogin(
  b: TestBroker,
  method: string,
  user: string,
  password: string,
  opts: { tamper?: boolean; clientId?: string } = {},
) {
  const r = await b.raw(5);
  const c = scramClient(method, user, password);
  r.send(scramConnect(method, user, c.first, opts.clientId));
  const sf = await serverFirst(r, method);
  const f = c.final(sf, opts);
  r.send(auth(ReasonCode.ContinueAuthentication, method, f.message));
  const ack = await expectPacket(r, PacketType.Connack);
  return { r, ack, serverFirst: sf, final: f, client: c };
}

const security = (yaml: string): ConfigPatch => securityOf(yaml, dir);

const passwd = (...args: string[]): void => {
  execFileSync(process.execPath, ['--import', 'tsx', CLI, 'passwd', pwFile, ...args], { stdio: 'pipe' });
};

describe('auth - SCRAM enhanced authentication (MQTT 5.0 §4.12, RFC 5802 / RFC 7677)', () => {
  const base = `auth:\n  password_file: ${pwFile}\n  allow_anonymous: false\n`;
  before(() => {
    writeFileSync(pwFile, '');
    passwd('alice', '-b', 'wonder,land=');
    passwd('bob', '-b', 'builder', '--no-scram');
    execFileSync('mosquitto_passwd', ['-b', pwFile, 'carol', 'mosquitto']);
  });

  test('petrel passwd writes the scrypt hash followed by $scram$ credentials (and none with --no-scram)', () => {
    const lines = readFileSync(pwFile, 'utf8').trim().split('\n');
    assert.match(
      lines[0]!,
      /^alice:\$scrypt\$ln=15,r=8,p=1\$[^$]+\$[^$]+\$scram\$10000\$[A-Za-z0-9+/=]{24}(\$[A-Za-z0-9+/=]+){4}$/,
    );
    assert.match(lines[1]!, /^bob:\$scrypt\$[^:]*$/);
    assert.doesNotMatch(lines[1]!, /\$scram\$/);
  });

  for (const method of [M256, M512]) {
    test(`${method}: the right password connects; CONNACK carries the method and the server signature`, async () => {
      await using b = await startBroker(security(base));
      const { r, ack, final } = await scramLogin(b, method, 'alice', 'wonder,land=');
      assert.equal(ack.reasonCode, ReasonCode.Success);
      assert.equal(ack.properties?.authenticationMethod, method);
      // The client authenticates the server in turn (RFC 5802 §3: ServerSignature).
      assert.equal(ack.properties?.authenticationData?.toString(), final.serverFinal);
      r.destroy();
    });
  }

  test('the same user still connects with the plain password (the scrypt part of the entry)', async () => {
    await using b = await startBroker(security(base));
    const r = await b.raw(5);
    r.send(connectPacket(5, { clientId: 'p', username: 'alice', password: Buffer.from('wonder,land=') }));
    assert.equal((await expectPacket(r, PacketType.Connack)).reasonCode, ReasonCode.Success);
    r.destroy();
  });

  test('a wrong password and a tampered client proof get CONNACK 0x86', async () => {
    await using b = await startBroker(security(base));
    for (const method of [M256, M512]) {
      const wrong = await scramLogin(b, method, 'alice', 'wonderland');
      assert.equal(wrong.ack.reasonCode, ReasonCode.BadUserNameOrPassword);
      const tampered = await scramLogin(b, method, 'alice', 'wonder,land=', { tamper: true });
      assert.equal(tampered.ack.reasonCode, ReasonCode.BadUserNameOrPassword);
      wrong.r.destroy();
      tampered.r.destroy();
    }
  });

  test('a replayed client-final (same client nonce, new server nonce) is refused with 0x87', async () => {
    await using b = await startBroker(security(base));
    const cnonce = randomBytes(18).toString('base64');
    const c1 = scramClient(M256, 'alice', 'wonder,land=', cnonce);
    const r1 = await b.raw(5);
    r1.send(scramConnect(M256, 'alice', c1.first, 'r1'));
    const sf1 = await serverFirst(r1, M256);
    const f1 = c1.final(sf1);
    r1.send(auth(ReasonCode.ContinueAuthentication, M256, f1.message));
    assert.equal((await expectPacket(r1, PacketType.Connack)).reasonCode, ReasonCode.Success);
    r1.destroy();
    // An eavesdropper replays the whole conversation.
    const r2 = await b.raw(5);
    r2.send(scramConnect(M256, 'alice', c1.first, 'r2'));
    const sf2 = await serverFirst(r2, M256);
    assert.notEqual(sf2, sf1, 'a fresh server nonce');
    r2.send(auth(ReasonCode.ContinueAuthentication, M256, f1.message));
    assert.equal((await expectPacket(r2, PacketType.Connack)).reasonCode, ReasonCode.NotAuthorized);
    r2.destroy();
  });

  test('unknown users and users without SCRAM data take the same path: a plausible server-first, then 0x86', async () => {
    await using b = await startBroker(security(base));
    const firsts = new Map<string, string[]>();
    for (const user of ['nobody', 'bob', 'carol', 'nobody', 'alice', 'alice']) {
      const x = await scramLogin(b, M512, user, 'guess');
      assert.equal(x.ack.reasonCode, ReasonCode.BadUserNameOrPassword, user);
      const [, s, i] = x.serverFirst.split(',');
      firsts.set(user, [...(firsts.get(user) ?? []), `${s},${i}`]);
      x.r.destroy();
    }
    // Same salt and iteration count on each attempt, for existing and unknown users alike.
    const nobody = firsts.get('nobody')!;
    const alice = firsts.get('alice')!;
    assert.equal(nobody[0], nobody[1]);
    assert.equal(alice[0], alice[1]);
    assert.notEqual(nobody[0], alice[0]);
    assert.equal(nobody[0]!.split(',')[1], alice[0]!.split(',')[1], 'same iteration count');
    assert.equal(Buffer.from(nobody[0]!.slice(2).split(',')[0]!, 'base64').length, 16);
  });

  test('channel binding ("p=") is not supported: CONNACK 0x87; "y,," is accepted', async () => {
    await using b = await startBroker(security(base));
    const r = await b.raw(5);
    r.send(scramConnect(M256, 'alice', `p=tls-unique,,n=alice,r=${randomBytes(9).toString('base64')}`));
    assert.equal((await expectPacket(r, PacketType.Connack)).reasonCode, ReasonCode.NotAuthorized);
    r.destroy();
    // "y,,": the client supports channel binding but thinks the server does not (RFC 5802 §6): c=eSws.
    const c = scramClient(M256, 'alice', 'wonder,land=', undefined, 'y,,');
    const r2 = await b.raw(5);
    r2.send(scramConnect(M256, 'alice', c.first));
    r2.send(auth(ReasonCode.ContinueAuthentication, M256, c.final(await serverFirst(r2, M256)).message));
    assert.equal((await expectPacket(r2, PacketType.Connack)).reasonCode, ReasonCode.Success);
    r2.destroy();
    // A c= that differs from the GS2 header of the client-first (a downgrade) is refused.
    const d = scramClient(M256, 'alice', 'wonder,land=', undefined, 'y,,');
    const r3 = await b.raw(5);
    r3.send(scramConnect(M256, 'alice', d.first));
    r3.send(
      auth(
        ReasonCode.ContinueAuthentication,
        M256,
        d.final(await serverFirst(r3, M256), { gs2: 'n,,' }).message,
      ),
    );
    assert.equal((await expectPacket(r3, PacketType.Connack)).reasonCode, ReasonCode.NotAuthorized);
    r3.destroy();
  });

  test('the SCRAM user must be the CONNECT User Name; garbage client-first gets 0x87, not a crash', async () => {
    await using b = await startBroker(security(base));
    for (const [username, first] of [
      ['bob', scramClient(M256, 'alice', 'x').first],
      [undefined, scramClient(M256, 'alice', 'x').first],
      ['alice', 'n,,r=abc'],
      ['alice', 'n,,n=alice,r=a,b'],
      ['alice', '\u0000\u00ff'],
      ['alice', 'n,,n=alice,r=abc,m=ext'],
    ] as const) {
      const r = await b.raw(5);
      r.send(scramConnect(M256, username, first));
      assert.equal((await expectPacket(r, PacketType.Connack)).reasonCode, ReasonCode.NotAuthorized, first);
      r.destroy();
    }
  });

  test('banned clients are refused before the exchange (enhanced auth does not skip bans)', async () => {
    await using b = await startBroker(security(`${base}bans:\n  - { clientid: evil }\n`));
    const r = await b.raw(5);
    r.send(scramConnect(M256, 'alice', scramClient(M256, 'alice', 'wonder,land=').first, 'evil'));
    assert.equal((await expectPacket(r, PacketType.Connack)).reasonCode, ReasonCode.Banned);
    r.destroy();
  });

  test('re-authentication (AUTH 0x19): success → AUTH 0x00 with v=; wrong password → DISCONNECT 0x87', async () => {
    await using b = await startBroker(security(base));
    for (const method of [M256, M512]) {
      const { r, ack } = await scramLogin(b, method, 'alice', 'wonder,land=', { clientId: `re-${method}` });
      assert.equal(ack.reasonCode, ReasonCode.Success);
      // [MQTT-4.12.1-1] the same method as at CONNECT.
      const c = scramClient(method, 'alice', 'wonder,land=');
      r.send(auth(ReasonCode.ReAuthenticate, method, c.first));
      const f = c.final(await serverFirst(r, method));
      r.send(auth(ReasonCode.ContinueAuthentication, method, f.message));
      const done = await expectPacket(r, PacketType.Auth);
      assert.equal(done.reasonCode, ReasonCode.Success);
      assert.equal(done.properties?.authenticationData?.toString(), f.serverFinal);
      // Still connected: a PINGREQ is answered.
      r.send({ type: PacketType.Pingreq });
      await expectPacket(r, PacketType.Pingresp);

      const bad = scramClient(method, 'alice', 'not-it');
      r.send(auth(ReasonCode.ReAuthenticate, method, bad.first));
      r.send(
        auth(ReasonCode.ContinueAuthentication, method, bad.final(await serverFirst(r, method)).message),
      );
      const d = await expectPacket(r, PacketType.Disconnect);
      assert.equal(d.reasonCode, ReasonCode.NotAuthorized);
      r.destroy();
    }
  });

  test('SASLprep: keys derived by petrel passwd from "I\\u00ADX" (soft hyphen maps to nothing) and "\\u2168" (NFKC) accept "IX"', async () => {
    passwd('hyphen', '-b', 'I\u00ADX');
    passwd('roman', '-b', '\u2168');
    await using b = await startBroker(security(base));
    for (const method of [M256, M512]) {
      for (const user of ['hyphen', 'roman']) {
        const ok = await scramLogin(b, method, user, 'IX', { clientId: `${user}-${method}` });
        assert.equal(ok.ack.reasonCode, ReasonCode.Success, `${method} ${user}`);
        assert.equal(ok.ack.properties?.authenticationData?.toString(), ok.final.serverFinal);
        ok.r.destroy();
      }
      // The client prepares what its user typed, so every equivalent form is the same password.
      const typed = await scramLogin(b, method, 'roman', 'I\u00ADX', { clientId: `typed-${method}` });
      assert.equal(typed.ack.reasonCode, ReasonCode.Success);
      typed.r.destroy();
      const wrong = await scramLogin(b, method, 'roman', 'I X', { clientId: `wrong-${method}` });
      assert.equal(wrong.ack.reasonCode, ReasonCode.BadUserNameOrPassword);
      wrong.r.destroy();
    }
  });

  test('SASLprep: petrel passwd refuses a password with a prohibited character (exit 2, names it), the file stays as it was', () => {
    const before = readFileSync(pwFile, 'utf8');
    for (const [user, pw, what] of [
      [
        'bell',
        'ring\u0007',
        /password is not valid under SASLprep \(RFC 4013\): character U\+0007 is not allowed/,
      ],
      ['mixed', '\u0627a', /password is not valid under SASLprep \(RFC 4013\): .*RandALCat/],
      ['I\u00ADX', 'x', /user name "I\u00ADX" becomes "IX" under SASLprep/],
    ] as const) {
      const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'passwd', pwFile, user, '-b', pw], {
        encoding: 'utf8',
      });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, what);
      assert.match(r.stderr, /--no-scram/);
    }
    assert.equal(readFileSync(pwFile, 'utf8'), before);
    // --no-scram stores it (a plain CONNECT password is compared as given, as Mosquitto does).
    passwd('bell', '-b', 'ring\u0007', '--no-scram');
    assert.match(readFileSync(pwFile, 'utf8'), /^bell:\$scrypt\$[^:]*$/m);
  });

  test('SASLprep: the server prepares the SCRAM user name; it must then be the CONNECT User Name; a prohibited one gets 0x87', async () => {
    passwd('IX', '-b', 'nine');
    await using b = await startBroker(security(base));
    // n=I\u00ADX prepares to "IX", the CONNECT User Name: accepted.
    const r = await b.raw(5);
    const c = scramClient(M256, 'I\u00ADX', 'nine');
    r.send(scramConnect(M256, 'IX', c.first, 'prep-1'));
    r.send(auth(ReasonCode.ContinueAuthentication, M256, c.final(await serverFirst(r, M256)).message));
    assert.equal((await expectPacket(r, PacketType.Connack)).reasonCode, ReasonCode.Success);
    r.destroy();
    // The unprepared name as the CONNECT User Name: ACLs and bans would see another name than the account's.
    for (const [username, user, reason] of [
      ['I\u00ADX', 'I\u00ADX', /differs from the CONNECT User Name/],
      ['a\u0007', 'a\u0007', /user name is not valid under SASLprep \(RFC 4013\): character U\+0007/],
    ] as const) {
      const x = await b.raw(5);
      x.send(
        connectPacket(5, {
          clientId: 'prep-2',
          username,
          properties: {
            authenticationMethod: M256,
            authenticationData: Buffer.from(scramClient(M256, user, 'nine').first),
            requestProblemInformation: 1,
          },
        }),
      );
      const ack = await expectPacket(x, PacketType.Connack);
      assert.equal(ack.reasonCode, ReasonCode.NotAuthorized);
      assert.match(ack.properties?.reasonString ?? '', reason);
      x.destroy();
    }
  });
});
