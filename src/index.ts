/** Petrel's public API, for embedding the broker as a library. */
export {
  Broker,
  type BrokerOptions,
  type ClientHandle,
  type Clock,
  NEVER_EXPIRES,
  Stats,
  systemClock,
} from './broker/broker.js';
export type { Message } from './broker/message.js';
export * as codec from './codec/index.js';
export { ConfigError, defaultConfig, loadConfig, type PetrelConfig, parseConfig } from './config/index.js';
export {
  type AuthenticateRequest,
  type AuthorizeRequest,
  type ClientInfo,
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
