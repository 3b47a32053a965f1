/**
 * HTTP authentication, as EMQX's HTTP authenticator: POST a JSON body per CONNECT; a 200 answer with
 * `{"result": "allow" | "deny" | "ignore", "is_superuser": bool}` decides. Any other status, a body that is not
 * such an object, a network error or the timeout denies (fail closed).
 */
import type { AuthenticateRequest } from '../hooks/hooks.js';
import type { AclRule } from './acl.js';

export type ProviderAnswer =
  | { result: 'allow'; superuser: boolean; rules?: readonly AclRule[]; expiresAt?: number }
  | { result: 'deny'; reason: string }
  | { result: 'ignore' };

export async function httpAuthenticate(
  url: string,
  timeoutMs: number,
  req: AuthenticateRequest,
): Promise<ProviderAnswer> {
  const body = JSON.stringify({
    clientid: req.clientId,
    username: req.username ?? null,
    password: req.password?.toString('utf8') ?? null,
    peerhost: req.remoteAddress,
    peerport: req.remotePort,
    listener: req.listener,
    protocol: req.protocolVersion === 5 ? 'mqtt5' : req.protocolVersion === 4 ? 'mqtt3.1.1' : 'mqtt3.1',
    cert_common_name: req.certCommonName ?? null,
  });
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'error',
    });
  } catch (e) {
    const timeout = e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError');
    return {
      result: 'deny',
      reason: timeout ? 'authentication service timed out' : 'authentication service failed',
    };
  }
  if (res.status !== 200) {
    await res.body?.cancel().catch(() => {});
    return { result: 'deny', reason: `authentication service answered ${res.status}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(await res.text());
  } catch {
    return { result: 'deny', reason: 'authentication service answered no JSON' };
  }
  if (typeof json !== 'object' || json === null)
    return { result: 'deny', reason: 'bad authentication answer' };
  const o = json as { result?: unknown; is_superuser?: unknown };
  if (o.result === 'allow') return { result: 'allow', superuser: o.is_superuser === true };
  if (o.result === 'ignore') return { result: 'ignore' };
  return { result: 'deny', reason: 'denied by the authentication service' };
}
