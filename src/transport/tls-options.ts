import { readFileSync } from 'node:fs';
import type { TLSSocket, TlsOptions } from 'node:tls';
import type { TlsListenerConfig, WssListenerConfig } from '../config/index.js';

export type TlsConfig = TlsListenerConfig | WssListenerConfig;

/** A certificate, key or CA file could not be read. The message names the listener key and the file. */
export class TlsFileError extends Error {
  override name = 'TlsFileError';
  readonly code = 'ERR_PETREL_TLS_FILE';
}

function read(cfg: TlsConfig, listener: string, key: 'cert' | 'key' | 'ca'): Buffer | undefined {
  const file = cfg[key];
  if (file === undefined) return undefined;
  try {
    return readFileSync(file);
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message;
    throw new TlsFileError(`listener ${listener}: ${key}: cannot read "${file}": ${why}`);
  }
}

/** The parts of the TLS options that come from files (re-read by `reloadTls`). */
export function secureContextOptions(cfg: TlsConfig, listener: string): TlsOptions {
  return {
    cert: read(cfg, listener, 'cert'),
    key: read(cfg, listener, 'key'),
    ca: read(cfg, listener, 'ca'),
    minVersion: cfg.min_version,
    ...(cfg.ciphers !== undefined ? { ciphers: cfg.ciphers } : {}),
  };
}

/** Server options for node:tls / node:https: files, versions and client certificate policy. */
export function tlsServerOptions(cfg: TlsConfig, listener: string, handshakeTimeout: number): TlsOptions {
  return {
    ...secureContextOptions(cfg, listener),
    // A certificate is asked for when it is required or may name the user; only `require_client_cert` refuses.
    requestCert: cfg.require_client_cert || cfg.use_cn_as_username,
    rejectUnauthorized: cfg.require_client_cert,
    handshakeTimeout,
  };
}

/** The Common Name of a verified client certificate, or undefined. */
export function peerCommonName(socket: TLSSocket): string | undefined {
  if (!socket.authorized) return undefined;
  const cn = socket.getPeerCertificate()?.subject?.CN as string | string[] | undefined;
  if (Array.isArray(cn)) return cn[0];
  return typeof cn === 'string' && cn !== '' ? cn : undefined;
}
