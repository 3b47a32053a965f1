import { randomBytes } from 'node:crypto';
import { type ConnectPacket, isValidUtf8, PacketType, type Properties, ReasonCode } from '../codec/index.js';
import { NEVER_EXPIRES } from '../core/limits.js';
import { ALLOW, type Decision } from '../hooks/hooks.js';
import { validateTopicName } from '../topic/index.js';
import { runAuthStep } from './auth.js';
import { topicLimits } from './options.js';
import { type Conn, type PendingAuth, State } from './state.js';

/** CONNECT → validation, authentication, session, CONNACK (MQTT 5.0 §3.1, §3.2; 3.1.1 §3.1, §3.2). */
export function handleConnect(c: Conn, p: ConnectPacket): void | Promise<void> {
  const o = c.opts;
  const v5 = p.protocolVersion === 5;
  c.protocolVersion = p.protocolVersion;
  c.state = State.Connecting;

  // Client identifier rules per version.
  let clientId = p.clientId;
  let assigned: string | undefined;
  if (clientId.length === 0) {
    if (p.protocolVersion === 3 || (p.protocolVersion === 4 && !p.clean)) {
      // 3.1 requires 1-23 characters; 3.1.1 with CleanSession=0 must be refused with 0x02 [MQTT-3.1.3-8].
      return refuse(c, ReasonCode.ClientIdentifierNotValid, 'empty client identifier');
    }
    clientId = `petrel-${randomBytes(9).toString('base64url')}`;
    if (v5) assigned = clientId; // Assigned Client Identifier [MQTT-3.2.2-16]
  } else if (
    Buffer.byteLength(clientId) > o.maxClientIdLength ||
    (p.protocolVersion === 3 && clientId.length > 23)
  ) {
    return refuse(c, ReasonCode.ClientIdentifierNotValid, 'client identifier too long');
  }

  // Keep Alive: v5 clients asking more than the maximum get Server Keep Alive; v3 ones are refused.
  let keepAlive = p.keepAlive;
  let serverKeepAlive: number | undefined;
  if (o.maxKeepalive < 65_535 && (keepAlive > o.maxKeepalive || keepAlive === 0)) {
    if (v5) {
      keepAlive = serverKeepAlive = o.maxKeepalive;
    } else if (keepAlive > o.maxKeepalive) {
      return refuse(
        c,
        ReasonCode.ClientIdentifierNotValid,
        `keep alive ${keepAlive} s exceeds the maximum ${o.maxKeepalive} s`,
      );
    }
  }

  // Will checks.
  const will = p.will;
  if (will !== undefined) {
    const bad = validateTopicName(will.topic, topicLimits(o));
    if (bad !== undefined) return refuse(c, ReasonCode.TopicNameInvalid, `will ${bad}`);
    // $SYS belongs to the broker: a client cannot plant a will there (MQTT 5.0 §4.7.2).
    if (will.topic === '$SYS' || will.topic.startsWith('$SYS/'))
      return refuse(c, ReasonCode.NotAuthorized, 'will topic under $SYS');
    if (will.qos > o.maximumQos)
      return refuse(c, ReasonCode.QoSNotSupported, `will QoS ${will.qos} exceeds ${o.maximumQos}`);
    if (will.retain && !o.retainAvailable)
      return refuse(c, ReasonCode.RetainNotSupported, 'retain is not available');
    if (will.properties?.payloadFormatIndicator === 1 && !isValidUtf8(will.payload)) {
      return refuse(
        c,
        ReasonCode.PayloadFormatInvalid,
        'will payload is not UTF-8 as its Payload Format Indicator says',
      );
    }
  }

  // MQTT 5 CONNECT properties.
  const props = p.properties;
  let sessionExpiry: number;
  let cappedExpiry: number | undefined;
  if (v5) {
    const asked = props?.sessionExpiryInterval ?? 0;
    sessionExpiry = Math.min(asked, o.maxSessionExpiry);
    if (sessionExpiry !== asked) cappedExpiry = sessionExpiry;
    c.connectSessionExpiry = asked;
    c.clientReceiveMaximum = props?.receiveMaximum ?? 65_535;
    c.clientMaxPacketSize = props?.maximumPacketSize ?? 0;
    c.clientTopicAliasMaximum = props?.topicAliasMaximum ?? 0;
    c.requestProblemInformation = props?.requestProblemInformation !== 0;
    const method = props?.authenticationMethod;
    if (method !== undefined && c.broker.hooks.findAuthMechanism(method) === undefined) {
      return refuse(
        c,
        ReasonCode.BadAuthenticationMethod,
        `authentication method "${method}" is not supported`,
      );
    }
  } else {
    sessionExpiry = p.clean ? 0 : Math.min(NEVER_EXPIRES, o.maxSessionExpiry);
  }

  c.clientId = clientId;
  // TLS use_cn_as_username: the certificate's Common Name replaces the CONNECT's user name.
  c.username = c.usernameFromCert ? c.certCommonName : p.username;
  c.keepAlive = keepAlive;
  c.cleanStart = p.clean;

  /** `authData`: the final Authentication Data of an enhanced authentication, for CONNACK. */
  const accept = (d: Decision, authData?: Buffer, willChecked = false): void | Promise<void> => {
    if (c.state !== State.Connecting) return; // closed meanwhile
    if (
      !willChecked &&
      d.result !== 'deny' &&
      will !== undefined &&
      c.broker.hooks.hasDeciders('client.authorize')
    ) {
      // The will is authorized as a PUBLISH of this client at CONNECT (as Mosquitto does): denied → 0x87.
      const w = c.broker.hooks.run(
        'client.authorize',
        {
          client: c,
          action: 'publish',
          topic: will.topic,
          qos: will.qos,
          retain: will.retain,
          size: will.payload.length,
        },
        ALLOW,
      );
      const go = (x: Decision): void | Promise<void> =>
        accept(x.result === 'deny' ? WILL_DENIED : d, authData, true);
      return w instanceof Promise ? w.then(go) : go(w);
    }
    if (d.result === 'deny') {
      refuse(
        c,
        d.reasonCode ??
          (p.username !== undefined ? ReasonCode.BadUserNameOrPassword : ReasonCode.NotAuthorized),
        d.reason ?? 'not authorized',
      );
      return;
    }
    const { session, present } = c.broker.openSession(clientId, p.clean, sessionExpiry, c);
    if (c.state !== State.Connecting) return;
    c.session = session;
    c.will = will;
    c.state = State.Connected;
    let ack: Properties | undefined;
    if (v5) {
      ack = {};
      if (cappedExpiry !== undefined) ack.sessionExpiryInterval = cappedExpiry;
      if (o.receiveMaximum < 65_535) ack.receiveMaximum = o.receiveMaximum;
      if (o.maximumQos < 2) ack.maximumQos = o.maximumQos;
      if (!o.retainAvailable) ack.retainAvailable = 0;
      ack.maximumPacketSize = o.maxPacketSize;
      if (assigned !== undefined) ack.assignedClientIdentifier = assigned;
      if (o.topicAliasMaximum > 0) ack.topicAliasMaximum = o.topicAliasMaximum;
      if (!o.wildcardSubscriptionAvailable) ack.wildcardSubscriptionAvailable = 0;
      if (!o.subscriptionIdentifierAvailable) ack.subscriptionIdentifierAvailable = 0;
      if (!o.sharedSubscriptionAvailable) ack.sharedSubscriptionAvailable = 0;
      if (serverKeepAlive !== undefined) ack.serverKeepAlive = serverKeepAlive;
      // Response Information, only when requested [MQTT-3.1.2-28].
      if (props?.requestResponseInformation === 1 && o.responseInformation !== '') {
        ack.responseInformation = o.responseInformation.replaceAll('${clientid}', clientId);
      }
      if (c.authMethod !== undefined) {
        ack.authenticationMethod = c.authMethod;
        if (authData !== undefined) ack.authenticationData = authData;
      }
    }
    c.io.send({
      type: PacketType.Connack,
      // MQTT 3.1 has no Session Present flag: that byte is reserved (0), as Mosquitto sends it.
      sessionPresent: present && p.protocolVersion !== 3,
      reasonCode: ReasonCode.Success,
      properties: ack,
    });
    c.broker.stats['connections.accepted']++;
    const hooks = c.broker.hooks;
    if (hooks.has('client.connack')) {
      hooks.emit('client.connack', { clientId, reasonCode: 0, remoteAddress: c.remoteAddress });
    }
    // Resend unacknowledged messages, then what was queued [MQTT-4.4.0-1].
    session.attach(c);
    c.accepted();
    if (hooks.has('client.connected')) hooks.emit('client.connected', c, present);
  };

  const hooks = c.broker.hooks;
  const method = v5 ? props?.authenticationMethod : undefined;
  if (method !== undefined) {
    // Enhanced authentication (MQTT 5.0 §4.12) replaces the user name / password check.
    const mech = hooks.findAuthMechanism(method)!;
    c.authMethod = method;
    const pending: PendingAuth = {
      exchange: mech.begin({
        clientId,
        username: c.username,
        remoteAddress: c.remoteAddress,
        listener: c.listener,
        reauth: false,
      }),
      success: (data) => void accept(ALLOW, data),
      fail: (rc, reason) => refuse(c, rc, reason),
    };
    c.auth = pending;
    return runAuthStep(c, pending, pending.exchange.step(props?.authenticationData));
  }
  if (!hooks.hasDeciders('client.authenticate')) return accept(ALLOW);
  const d = hooks.run(
    'client.authenticate',
    {
      clientId,
      username: c.username,
      password: p.password,
      remoteAddress: c.remoteAddress,
      remotePort: c.remotePort,
      listener: c.listener,
      certCommonName: c.certCommonName,
      protocolVersion: p.protocolVersion,
    },
    ALLOW,
  );
  if (d instanceof Promise) return d.then((dec) => accept(dec));
  return accept(d);
}

const WILL_DENIED: Decision = {
  result: 'deny',
  reasonCode: ReasonCode.NotAuthorized,
  reason: 'will not authorized',
};

/** MQTT 5 reason codes with a 3.x CONNACK return code (mapped by the encoder). */
const V3_CONNACK_FITS = new Set([0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a]);

/** CONNACK with a failure reason code, then close [MQTT-3.2.2-7] [MQTT-3.2.2-5]. */
function refuse(c: Conn, reasonCode: number, reason: string): void {
  if (c.protocolVersion === 5) {
    const props = c.requestProblemInformation ? { reasonString: reason } : undefined;
    c.io.send({ type: PacketType.Connack, sessionPresent: false, reasonCode, properties: props });
  } else if (V3_CONNACK_FITS.has(reasonCode)) {
    c.io.send({ type: PacketType.Connack, sessionPresent: false, reasonCode });
  }
  // Otherwise no 3.x return code fits: close without CONNACK [MQTT-3.2.2-6].
  c.broker.stats['connections.rejected']++;
  const hooks = c.broker.hooks;
  if (hooks.has('client.connack'))
    hooks.emit('client.connack', { clientId: c.clientId, reasonCode, remoteAddress: c.remoteAddress });
  c.abort(`connection refused: ${reason}`);
}
