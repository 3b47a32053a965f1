export type { ConfigOverrides, ConfigProblem, LoadConfigOptions } from './load.js';
export { ConfigError, defaultConfig, loadConfig, parseConfig } from './load.js';
export type {
  ListenerConfig,
  LogLevel,
  MqttConfig,
  PetrelConfig,
  StorageConfig,
  TcpListenerConfig,
} from './schema.js';
export {
  ListenerSchema,
  LOG_LEVELS,
  LogSchema,
  MqttSchema,
  PetrelConfigSchema,
  StorageSchema,
  TcpListenerSchema,
} from './schema.js';
