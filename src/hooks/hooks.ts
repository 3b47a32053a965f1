/**
 * Typed hook points. Three kinds, as in EMQX:
 * - decide hooks (`client.authenticate`, `client.authorize`): handlers in priority order answer
 *   allow / deny / ignore; the first allow or deny wins; when all ignore, the default applies.
 *   A handler that throws denies (fail closed).
 * - notify hooks (`client.connected`, `message.delivered`, …): observers; a throwing handler is logged and
 *   ignored (fail open).
 * A decide handler may answer synchronously or with a Promise; the core stays synchronous when all do.
 */

import type { ClientInfo } from '../core/client-info.js';
import type { Message } from '../core/message.js';
import type { MaybePromise } from '../core/types.js';
import type { EnhancedAuthMechanism } from './enhanced-auth.js';

export type Decision =
  | { result: 'allow'; superuser?: boolean }
  /** `disconnect`: an MQTT 3.x PUBLISH denied closes the connection instead of being dropped. */
  | { result: 'deny'; reasonCode?: number; reason?: string; disconnect?: boolean }
  | { result: 'ignore' };
export const ALLOW: Decision = { result: 'allow' };
export const IGNORE: Decision = { result: 'ignore' };

export interface AuthenticateRequest extends ClientInfo {
  readonly password: Buffer | undefined;
}

export type AuthorizeAction = 'publish' | 'subscribe';
export interface AuthorizeRequest {
  readonly client: ClientInfo;
  readonly action: AuthorizeAction;
  readonly topic: string;
  readonly qos: number;
  readonly retain: boolean;
  /** PUBLISH payload size in bytes. */
  readonly size?: number;
}

export type DecideHandler<R> = (req: R) => MaybePromise<Decision>;

export interface NotifyEvents {
  'client.connected': (client: ClientInfo, sessionPresent: boolean) => void;
  'client.disconnected': (client: ClientInfo, reason: string) => void;
  'client.connack': (info: { clientId: string; reasonCode: number; remoteAddress: string }) => void;
  'session.created': (clientId: string) => void;
  'session.resumed': (clientId: string) => void;
  'session.terminated': (clientId: string, reason: string) => void;
  'session.subscribed': (clientId: string, filter: string, qos: number) => void;
  'session.unsubscribed': (clientId: string, filter: string) => void;
  'message.publish': (msg: Message) => void;
  'message.delivered': (clientId: string, msg: Message) => void;
  'message.acked': (clientId: string, msg: Message) => void;
  'message.dropped': (clientId: string, msg: Message, reason: string) => void;
}

interface Entry<F> {
  fn: F;
  priority: number;
}

export class Hooks {
  private readonly deciders = {
    'client.authenticate': [] as Entry<DecideHandler<AuthenticateRequest>>[],
    'client.authorize': [] as Entry<DecideHandler<AuthorizeRequest>>[],
  };
  private readonly notifiers: { [K in keyof NotifyEvents]?: NotifyEvents[K][] } = {};
  private readonly mechanisms = new Map<string, EnhancedAuthMechanism>();
  /**
   * Read access at delivery (synchronous): false keeps a message from a client (ACLs check what a wildcard
   * subscription would bring, as Mosquitto does). Undefined = everything is delivered.
   */
  readFilter: ((client: ClientInfo, msg: Message) => boolean) | undefined;
  /** Called when a notify handler throws. */
  onError: (hook: string, err: unknown) => void = () => {};

  /** Adds a decide handler; higher priority runs first. Returns a function that removes it. */
  decide(name: 'client.authenticate', fn: DecideHandler<AuthenticateRequest>, priority?: number): () => void;
  decide(name: 'client.authorize', fn: DecideHandler<AuthorizeRequest>, priority?: number): () => void;
  decide(name: keyof Hooks['deciders'], fn: DecideHandler<never>, priority = 0): () => void {
    const list = this.deciders[name] as Entry<DecideHandler<never>>[];
    const e = { fn, priority };
    list.push(e);
    list.sort((a, b) => b.priority - a.priority);
    return () => {
      const i = list.indexOf(e);
      if (i >= 0) list.splice(i, 1);
    };
  }

  /** Registers an MQTT 5 enhanced authentication mechanism under its method name. Returns a remover. */
  authMechanism(m: EnhancedAuthMechanism): () => void {
    this.mechanisms.set(m.method, m);
    return () => {
      if (this.mechanisms.get(m.method) === m) this.mechanisms.delete(m.method);
    };
  }

  findAuthMechanism(method: string): EnhancedAuthMechanism | undefined {
    return this.mechanisms.get(method);
  }

  hasDeciders(name: keyof Hooks['deciders']): boolean {
    return this.deciders[name].length > 0;
  }

  /** Runs a decide hook. Returns the decision synchronously when every handler answers synchronously. */
  run(name: 'client.authenticate', req: AuthenticateRequest, fallback: Decision): MaybePromise<Decision>;
  run(name: 'client.authorize', req: AuthorizeRequest, fallback: Decision): MaybePromise<Decision>;
  run(name: keyof Hooks['deciders'], req: never, fallback: Decision): MaybePromise<Decision> {
    const list = this.deciders[name] as Entry<DecideHandler<never>>[];
    return runFrom(list, 0, req, fallback);
  }

  on<K extends keyof NotifyEvents>(name: K, fn: NotifyEvents[K]): () => void {
    const list = (this.notifiers[name] ??= []) as NotifyEvents[K][];
    list.push(fn);
    return () => {
      const i = list.indexOf(fn);
      if (i >= 0) list.splice(i, 1);
    };
  }

  has(name: keyof NotifyEvents): boolean {
    const l = this.notifiers[name];
    return l !== undefined && l.length > 0;
  }

  emit<K extends keyof NotifyEvents>(name: K, ...args: Parameters<NotifyEvents[K]>): void {
    const list = this.notifiers[name];
    if (list === undefined) return;
    for (const fn of list) {
      try {
        (fn as (...a: unknown[]) => void)(...args);
      } catch (e) {
        this.onError(name, e);
      }
    }
  }
}

function runFrom(
  list: Entry<DecideHandler<never>>[],
  i: number,
  req: never,
  fallback: Decision,
): MaybePromise<Decision> {
  for (; i < list.length; i++) {
    let d: MaybePromise<Decision>;
    try {
      d = list[i]!.fn(req);
    } catch (e) {
      return { result: 'deny', reason: `hook failed: ${e instanceof Error ? e.message : String(e)}` };
    }
    if (d instanceof Promise) {
      const next = i + 1;
      return d.then(
        (v) => (v.result === 'ignore' ? runFrom(list, next, req, fallback) : v),
        (e) =>
          ({
            result: 'deny',
            reason: `hook failed: ${e instanceof Error ? e.message : String(e)}`,
          }) as Decision,
      );
    }
    if (d.result !== 'ignore') return d;
  }
  return fallback;
}
