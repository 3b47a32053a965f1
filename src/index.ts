/** Petrel's public API, for embedding the broker as a library. */
export { Broker, type BrokerOptions, type ClientHandle } from './broker/broker.js';
export * as codec from './codec/index.js';
export { ConfigError, defaultConfig, loadConfig, type PetrelConfig, parseConfig } from './config/index.js';
export type { ClientInfo } from './core/client-info.js';
export { type Clock, systemClock } from './core/clock.js';
export { NEVER_EXPIRES } from './core/limits.js';
export type { Message } from './core/message.js';
export { Stats } from './core/stats.js';
export {
  type AuthenticateRequest,
  type AuthorizeRequest,
  type Decision,
  Hooks,
} from './hooks/hooks.js';
export { type ListenerAddress, PetrelServer, type ServerOptions } from './server/server.js';

import { defaultConfig, type PetrelConfig } from './config/index.js';
import { PetrelServer, type ServerOptions } from './server/server.js';

/** Creates a broker server from a resolved config (defaults when omitted). Call `listen()` to start it. */
export function createBroker(config: PetrelConfig = defaultConfig(), opts: ServerOptions = {}): PetrelServer {
  return new PetrelServer(config, opts);
}
