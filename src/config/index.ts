export type { ConfigOverrides, ConfigProblem, LoadConfigOptions, ParseOptions } from './load.js';
export { ConfigError, defaultConfig, loadConfig, parseConfig } from './load.js';
export type {
  ListenerConfig,
  LogLevel,
  MqttConfig,
  PetrelConfig,
  StorageConfig,
  TcpListenerConfig,
  TlsListenerConfig,
  WsListenerConfig,
  WssListenerConfig,
} from './schema.js';
export {
  ListenerSchema,
  LOG_LEVELS,
  LogSchema,
  MqttSchema,
  PetrelConfigSchema,
  StorageSchema,
  TcpListenerSchema,
  TlsListenerSchema,
  WsListenerSchema,
  WssListenerSchema,
} from './schema.js';
