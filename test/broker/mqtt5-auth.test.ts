/**
 * MQTT 5.0 enhanced authentication (§4.12): the AUTH packet flow through the pluggable mechanism hook
 * (`broker.hooks.authMechanism`), at CONNECT and for re-authentication, with a small challenge/response
 * test mechanism. Raw v5 clients check the exact packets; mqtt.js drives the same exchange through its
 * `handleAuth` hook.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import {
  type AuthPacket,
  encode,
  type Packet,
  PacketType,
  type Properties,
  ReasonCode,
} from '../../src/codec/index.js';
import type { AuthContext, AuthStep } from '../../src/hooks/enhanced-auth.js';
import { connectPacket, type RawClient, startBroker, type TestBroker } from '../helpers/broker.js';
import { connected, expectPacket, opt, publish, settle, subscribe } from '../helpers/raw.js';

const METHOD = 'TEST-CHALLENGE';
const NONCE = 'nonce';
const ANSWER = `${NONCE}:secret`;

interface MechanismOptions {
  /** Answer each step after a timer (the step returns a Promise). */
  async?: boolean;
  /** Reason code for a wrong answer (default: the hook's default, 0x87). */
  failCode?: number;
}

/**
 * TEST-CHALLENGE: the first step (whatever the client sent) answers with the challenge "nonce"; the
 * second succeeds with data "welcome" if the client answered "nonce:secret", else fails. User "banned"
 * is refused at once with 0x8A. Records every exchange's context and the data each step received.
 */
function challenge(b: TestBroker, opts: MechanismOptions = {}) {
  const begun: AuthContext[] = [];
  const seen: (string | undefined)[] = [];
  b.broker.hooks.authMechanism({
    method: METHOD,
    begin(ctx) {
      begun.push(ctx);
      let round = 0;
      const decide = (data: Buffer | undefined): AuthStep => {
        seen.push(data?.toString());
        if (ctx.username === 'banned')
          return { result: 'fail', reasonCode: ReasonCode.Banned, reason: 'banned' };
        if (round++ === 0) return { result: 'continue', data: Buffer.from(NONCE) };
        if (data?.toString() === ANSWER) return { result: 'success', data: Buffer.from('welcome') };
        return { result: 'fail', reasonCode: opts.failCode, reason: 'wrong answer' };
      };
      return {
        step(data) {
          if (!opts.async) return decide(data);
          return new Promise((resolve) => setTimeout(() => resolve(decide(data)), 20));
        },
      };
    },
  });
  return { begun, seen };
}

function auth(reasonCode: number, data?: string, method = METHOD): AuthPacket {
  const properties: Properties = { authenticationMethod: method };
  if (data !== undefined) properties.authenticationData = Buffer.from(data);
  return { type: PacketType.Auth, reasonCode, properties };
}

/** CONNECT asking for TEST-CHALLENGE. */
function authConnect(clientId: string, more: { username?: string; data?: string } = {}): Packet {
  const properties: Properties = { authenticationMethod: METHOD };
  if (more.data !== undefined) properties.authenticationData = Buffer.from(more.data);
  return connectPacket(5, { clientId, username: more.username, properties });
}

/** The server's AUTH 0x18 carrying the challenge, exactly. */
async function expectChallenge(r: RawClient): Promise<void> {
  assert.deepEqual(await r.next(), auth(ReasonCode.ContinueAuthentication, NONCE));
}

/** Runs the whole CONNECT exchange on a new raw client and returns it, connected. */
async function authenticated(b: TestBroker, clientId: string): Promise<RawClient> {
  const r = await b.raw(5);
  r.send(authConnect(clientId));
  await expectChallenge(r);
  r.send(auth(ReasonCode.ContinueAuthentication, ANSWER));
  const ack = await expectPacket(r, PacketType.Connack);
  assert.equal(ack.reasonCode, ReasonCode.Success);
  return r;
}

describe('mqtt5 enhanced authentication', { concurrency: true }, () => {
  it('auth - success: AUTH 0x18 challenge, client AUTH 0x18 answer, CONNACK 0x00 with Authentication Method and final data [MQTT-4.12.0-2] [MQTT-4.12.0-5] (5.0)', async () => {
    await using b = await startBroker();
    const m = challenge(b);
    const r = await b.raw(5);
    r.send(authConnect('ea', { username: 'u', data: 'hello' }));
    await expectChallenge(r);
    assert.equal(b.broker.sessions.has('ea'), false, 'no session before the exchange ends');
    r.send(auth(ReasonCode.ContinueAuthentication, ANSWER));
    const ack = await expectPacket(r, PacketType.Connack);
    assert.equal(ack.reasonCode, ReasonCode.Success);
    assert.equal(ack.properties?.authenticationMethod, METHOD);
    assert.deepEqual(ack.properties?.authenticationData, Buffer.from('welcome'));
    assert.deepEqual(m.seen, ['hello', ANSWER], 'the CONNECT data, then the answer');
    assert.equal(m.begun.length, 1);
    assert.equal(m.begun[0]!.clientId, 'ea');
    assert.equal(m.begun[0]!.username, 'u');
    assert.equal(m.begun[0]!.reauth, false);
    // Authenticated: the connection works.
    await subscribe(r, 'a', 1);
    await publish(r, 'a', 'hi', 1);
    assert.equal(b.broker.sessions.has('ea'), true);
  });

  it('auth - a wrong answer gets CONNACK 0x87 (the hook default) and close [MQTT-4.12.0-4] (5.0)', async () => {
    await using b = await startBroker();
    challenge(b);
    const r = await b.raw(5);
    r.send(authConnect('bad'));
    await expectChallenge(r);
    r.send(auth(ReasonCode.ContinueAuthentication, 'nonce:guess'));
    const ack = await expectPacket(r, PacketType.Connack);
    assert.equal(ack.reasonCode, ReasonCode.NotAuthorized);
    assert.equal(ack.properties?.reasonString, 'wrong answer');
    assert.equal(await r.waitClosed(), true);
    assert.equal(b.broker.sessions.has('bad'), false);
  });

  it("auth - a failing mechanism's own reason code is used in CONNACK (0x86, and 0x8A on the first step) (5.0)", async () => {
    await using b = await startBroker();
    challenge(b, { failCode: ReasonCode.BadUserNameOrPassword });
    const r = await b.raw(5);
    r.send(authConnect('bad'));
    await expectChallenge(r);
    r.send(auth(ReasonCode.ContinueAuthentication, 'wrong'));
    assert.equal((await expectPacket(r, PacketType.Connack)).reasonCode, ReasonCode.BadUserNameOrPassword);
    assert.equal(await r.waitClosed(), true);
    const banned = await b.raw(5);
    banned.send(authConnect('who', { username: 'banned' }));
    const ack = await expectPacket(banned, PacketType.Connack);
    assert.equal(ack.reasonCode, ReasonCode.Banned);
    assert.equal(await banned.waitClosed(), true);
  });

  it('auth - an unknown Authentication Method gets CONNACK 0x8C and close [MQTT-4.12.0-1] (5.0)', async () => {
    await using b = await startBroker();
    challenge(b);
    const r = await b.raw(5);
    r.send(connectPacket(5, { clientId: 'x', properties: { authenticationMethod: 'SCRAM-SHA-1' } }));
    const ack = await expectPacket(r, PacketType.Connack);
    assert.equal(ack.reasonCode, ReasonCode.BadAuthenticationMethod);
    assert.equal(await r.waitClosed(), true);
  });

  it('auth - an asynchronous mechanism (steps return Promises) completes the same exchange; packets wait in order (5.0)', async () => {
    await using b = await startBroker();
    challenge(b, { async: true });
    const r = await b.raw(5);
    r.send(authConnect('slow'));
    await expectChallenge(r);
    // The answer and a SUBSCRIBE right behind it, in one write: the SUBSCRIBE waits for the exchange.
    r.socket.write(
      Buffer.concat([
        encode(auth(ReasonCode.ContinueAuthentication, ANSWER), 5),
        encode({ type: PacketType.Subscribe, packetId: 4, subscriptions: [opt('t', 0)] }, 5),
      ]),
    );
    const ack = await expectPacket(r, PacketType.Connack);
    assert.equal(ack.reasonCode, ReasonCode.Success);
    assert.deepEqual(ack.properties?.authenticationData, Buffer.from('welcome'));
    assert.deepEqual(await r.next(), { type: PacketType.Suback, packetId: 4, reasonCodes: [0] });
  });

  it('auth - an asynchronous wrong answer gets CONNACK 0x87 (5.0)', async () => {
    await using b = await startBroker();
    challenge(b, { async: true });
    const r = await b.raw(5);
    r.send(authConnect('slow'));
    await expectChallenge(r);
    r.send(auth(ReasonCode.ContinueAuthentication, 'no'));
    assert.equal((await expectPacket(r, PacketType.Connack)).reasonCode, ReasonCode.NotAuthorized);
    assert.equal(await r.waitClosed(), true);
  });

  it('auth - a mechanism whose step throws / rejects refuses with CONNACK 0x87, the broker keeps running (5.0)', async () => {
    await using b = await startBroker();
    b.broker.hooks.authMechanism({
      method: 'BROKEN',
      begin: () => ({ step: () => Promise.reject(new Error('backend down')) }),
    });
    const r = await b.raw(5);
    r.send(connectPacket(5, { clientId: 'x', properties: { authenticationMethod: 'BROKEN' } }));
    assert.equal((await expectPacket(r, PacketType.Connack)).reasonCode, ReasonCode.NotAuthorized);
    assert.equal(await r.waitClosed(), true);
    await connected(b, 5, 'still-fine');
  });

  it('auth - a client that never answers the challenge is closed after mqtt.connect_timeout (5.0)', async () => {
    await using b = await startBroker({ mqtt: { connect_timeout: 1 } });
    challenge(b);
    const r = await b.raw(5);
    r.send(authConnect('mute'));
    await expectChallenge(r);
    assert.equal(await r.waitClosed(2500), true);
    assert.deepEqual(r.pending(), [], 'no CONNACK');
  });

  it('auth - a PUBLISH before the exchange completes is refused: CONNACK 0x82, not routed [MQTT-3.1.2-30] (5.0)', async () => {
    await using b = await startBroker();
    challenge(b);
    const sub = await connected(b, 5, 'sub');
    await subscribe(sub, 't', 0);
    const r = await b.raw(5);
    r.send(authConnect('eager'));
    await expectChallenge(r);
    r.send({
      type: PacketType.Publish,
      topic: 't',
      payload: Buffer.from('early'),
      qos: 0,
      retain: false,
      dup: false,
    });
    const ack = await expectPacket(r, PacketType.Connack);
    assert.notEqual(ack.reasonCode, ReasonCode.Success);
    assert.equal(ack.reasonCode, ReasonCode.ProtocolError);
    assert.equal(await r.waitClosed(), true);
    assert.deepEqual(await settle(sub), []);
    assert.equal(b.broker.sessions.has('eager'), false);
  });

  it('auth - AUTH with another Authentication Method during the CONNECT exchange gets CONNACK 0x82 and close (5.0)', async () => {
    await using b = await startBroker();
    challenge(b);
    const r = await b.raw(5);
    r.send(authConnect('switch'));
    await expectChallenge(r);
    r.send(auth(ReasonCode.ContinueAuthentication, ANSWER, 'OTHER'));
    const ack = await expectPacket(r, PacketType.Connack);
    assert.equal(ack.reasonCode, ReasonCode.ProtocolError);
    assert.equal(await r.waitClosed(), true);
    assert.equal(b.broker.sessions.has('switch'), false);
  });

  it('auth - AUTH 0x19 (Re-authenticate) before CONNACK is a Protocol Error: CONNACK 0x82 (5.0)', async () => {
    await using b = await startBroker();
    challenge(b);
    const r = await b.raw(5);
    r.send(authConnect('early-reauth'));
    await expectChallenge(r);
    r.send(auth(ReasonCode.ReAuthenticate, ANSWER));
    assert.equal((await expectPacket(r, PacketType.Connack)).reasonCode, ReasonCode.ProtocolError);
    assert.equal(await r.waitClosed(), true);
  });

  // ---- Re-authentication -----------------------------------------------------------------------------

  it('re-auth - client AUTH 0x19 -> server AUTH 0x18 -> client AUTH 0x18 -> server AUTH 0x00; the connection carries on [MQTT-4.12.1-1] (5.0)', async () => {
    await using b = await startBroker();
    const m = challenge(b);
    const r = await authenticated(b, 're');
    await subscribe(r, 'x', 0);
    r.send(auth(ReasonCode.ReAuthenticate, 'again'));
    await expectChallenge(r);
    r.send(auth(ReasonCode.ContinueAuthentication, ANSWER));
    assert.deepEqual(await r.next(), {
      type: PacketType.Auth,
      reasonCode: ReasonCode.Success,
      properties: { authenticationMethod: METHOD, authenticationData: Buffer.from('welcome') },
    });
    assert.equal(m.begun.length, 2);
    assert.equal(m.begun[1]!.reauth, true);
    assert.equal(m.begun[1]!.clientId, 're');
    assert.deepEqual(m.seen.slice(2), ['again', ANSWER]);
    const got = await publish(r, 'x', 'after', 1);
    assert.equal(got.length, 1, 'the subscription still delivers');
    // And again: re-authentication may repeat.
    r.send(auth(ReasonCode.ReAuthenticate));
    await expectChallenge(r);
    r.send(auth(ReasonCode.ContinueAuthentication, ANSWER));
    assert.equal((await expectPacket(r, PacketType.Auth)).reasonCode, ReasonCode.Success);
  });

  it('re-auth - a client may keep publishing while re-authentication is in progress (5.0)', async () => {
    await using b = await startBroker();
    challenge(b);
    const r = await authenticated(b, 'busy');
    await subscribe(r, 'x', 0);
    r.send(auth(ReasonCode.ReAuthenticate));
    await expectChallenge(r);
    const got = await publish(r, 'x', 'meanwhile', 1);
    assert.equal(got.length, 1);
    r.send(auth(ReasonCode.ContinueAuthentication, ANSWER));
    assert.equal((await expectPacket(r, PacketType.Auth)).reasonCode, ReasonCode.Success);
  });

  it('re-auth - a failing re-authentication gets DISCONNECT 0x87 and close [MQTT-4.12.1-2] (5.0)', async () => {
    await using b = await startBroker();
    challenge(b);
    const r = await authenticated(b, 'fails');
    r.send(auth(ReasonCode.ReAuthenticate));
    await expectChallenge(r);
    r.send(auth(ReasonCode.ContinueAuthentication, 'forgot'));
    const d = await expectPacket(r, PacketType.Disconnect);
    assert.equal(d.reasonCode, ReasonCode.NotAuthorized);
    assert.equal(await r.waitClosed(), true);
  });

  it('re-auth - AUTH with a different Authentication Method gets DISCONNECT 0x82 [MQTT-4.12.1-1] (5.0)', async () => {
    await using b = await startBroker();
    challenge(b);
    const r = await authenticated(b, 'other');
    r.send(auth(ReasonCode.ReAuthenticate, undefined, 'OTHER'));
    const d = await expectPacket(r, PacketType.Disconnect);
    assert.equal(d.reasonCode, ReasonCode.ProtocolError);
    assert.equal(await r.waitClosed(), true);
  });

  it('re-auth - AUTH 0x18 with no exchange in progress gets DISCONNECT 0x82 (5.0)', async () => {
    await using b = await startBroker();
    challenge(b);
    const r = await authenticated(b, 'stray');
    r.send(auth(ReasonCode.ContinueAuthentication, ANSWER));
    assert.equal((await expectPacket(r, PacketType.Disconnect)).reasonCode, ReasonCode.ProtocolError);
  });

  it('re-auth - AUTH from a client that did not use enhanced authentication gets DISCONNECT 0x82 [MQTT-4.12.0-7] (5.0)', async () => {
    await using b = await startBroker();
    challenge(b);
    const r = await connected(b, 5, 'plain');
    r.send(auth(ReasonCode.ReAuthenticate, ANSWER));
    const d = await expectPacket(r, PacketType.Disconnect);
    assert.equal(d.reasonCode, ReasonCode.ProtocolError);
    assert.equal(await r.waitClosed(), true);
  });

  // ---- mqtt.js ---------------------------------------------------------------------------------------

  /** An mqtt.js v5 client using TEST-CHALLENGE, answering with `answer` from its `handleAuth` hook. */
  function jsClient(
    b: TestBroker,
    clientId: string,
    answer: string,
  ): { c: MqttClient; challenges: string[] } {
    const challenges: string[] = [];
    const c = mqtt.connect(b.url, {
      protocolVersion: 5,
      clientId,
      reconnectPeriod: 0,
      connectTimeout: 3000,
      properties: { authenticationMethod: METHOD },
    });
    b.clients.push(c);
    c.handleAuth = (packet, cb) => {
      challenges.push(packet.properties?.authenticationData?.toString() ?? '');
      cb(undefined, {
        cmd: 'auth',
        reasonCode: ReasonCode.ContinueAuthentication,
        properties: { authenticationMethod: METHOD, authenticationData: Buffer.from(answer) },
      });
    };
    return { c, challenges };
  }

  it('auth - mqtt.js answers the challenge from handleAuth and connects; CONNACK carries the method and data (5.0)', async () => {
    await using b = await startBroker();
    challenge(b);
    const { c, challenges } = jsClient(b, 'js', ANSWER);
    const ack = await new Promise<mqtt.IConnackPacket>((resolve, reject) => {
      c.once('connect', resolve);
      c.once('error', reject);
    });
    assert.deepEqual(challenges, [NONCE]);
    assert.equal(ack.properties?.authenticationMethod, METHOD);
    assert.deepEqual(ack.properties?.authenticationData, Buffer.from('welcome'));
    await c.subscribeAsync('js/t', { qos: 1 });
    await c.publishAsync('js/t', 'ok', { qos: 1 });
  });

  it('auth - mqtt.js with a wrong answer gets an error with reason code 0x87 (5.0)', async () => {
    await using b = await startBroker();
    challenge(b);
    const { c } = jsClient(b, 'js-bad', 'nope');
    const err = await new Promise<Error & { code?: number }>((resolve) => {
      c.once('error', resolve);
      c.once('connect', () => resolve(new Error('connected')));
    });
    assert.equal(err.code, ReasonCode.NotAuthorized, String(err));
  });
});
