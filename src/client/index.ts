export { ClientError, type ConnectOptions, MqttClient, reasonText } from './mqtt-client.js';
export {
  type Endpoint,
  openTransport,
  type ParsedUrl,
  parseBrokerUrl,
  type Scheme,
  type TlsOptions,
} from './transport.js';
