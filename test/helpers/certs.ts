/**
 * Test certificates, made at test time with the openssl CLI in a temp dir (no key is ever committed):
 * a CA, a server certificate for localhost / 127.0.0.1, a client certificate (CN=alice) from that CA and
 * one from an unrelated CA (which the broker must refuse).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ListenerConfig } from '../../src/config/index.js';

export interface TestCerts {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A client certificate signed by another CA. */
  rogueCert: string;
  rogueKey: string;
  /** Issues another server certificate (CN=`cn`) from the same CA into new files. */
  issueServer(cn: string): { cert: string; key: string };
  /** Issues another client certificate (CN=`cn`) from the same CA into new files. */
  issueClient(cn: string): { cert: string; key: string };
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function key(dir: string, name: string): string {
  const file = join(dir, `${name}.key`);
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file], dir);
  return file;
}

function sign(
  dir: string,
  name: string,
  cn: string,
  caName: string,
  ext: string,
): { cert: string; key: string } {
  const k = key(dir, name);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.pem`);
  const extFile = join(dir, `${name}.ext`);
  writeFileSync(extFile, ext);
  openssl(['req', '-new', '-key', k, '-subj', `/CN=${cn}`, '-out', csr], dir);
  openssl(
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      join(dir, `${caName}.pem`),
      '-CAkey',
      join(dir, `${caName}.key`),
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      extFile,
      '-out',
      cert,
    ],
    dir,
  );
  return { cert, key: k };
}

function makeCa(dir: string, name: string, cn: string): void {
  const k = key(dir, name);
  openssl(
    [
      'req',
      '-x509',
      '-new',
      '-key',
      k,
      '-subj',
      `/CN=${cn}`,
      '-days',
      '2',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-out',
      join(dir, `${name}.pem`),
    ],
    dir,
  );
}

const SERVER_EXT =
  'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n';
const CLIENT_EXT = 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n';

let cached: TestCerts | undefined;

/** Generates the certificates once per test process. */
export function testCerts(): TestCerts {
  if (cached !== undefined) return cached;
  const dir = mkdtempSync(join(tmpdir(), 'petrel-certs-'));
  makeCa(dir, 'ca', 'Petrel Test CA');
  makeCa(dir, 'rogue-ca', 'Rogue CA');
  const server = sign(dir, 'server', 'localhost', 'ca', SERVER_EXT);
  const client = sign(dir, 'client', 'alice', 'ca', CLIENT_EXT);
  const rogue = sign(dir, 'rogue', 'mallory', 'rogue-ca', CLIENT_EXT);
  let n = 0;
  cached = {
    dir,
    ca: join(dir, 'ca.pem'),
    serverCert: server.cert,
    serverKey: server.key,
    clientCert: client.cert,
    clientKey: client.key,
    rogueCert: rogue.cert,
    rogueKey: rogue.key,
    issueServer: (cn) => sign(dir, `server-${++n}`, cn, 'ca', SERVER_EXT),
    issueClient: (cn) => sign(dir, `client-${++n}`, cn, 'ca', CLIENT_EXT),
  };
  return cached;
}

/** A TLS listener on 127.0.0.1 port 0 with the test server certificate, trusting the test CA; `over` changes it. */
export function tlsListener(
  certs: TestCerts,
  over: Partial<Extract<ListenerConfig, { type: 'tls' }>> = {},
): ListenerConfig {
  return {
    type: 'tls',
    host: '127.0.0.1',
    port: 0,
    max_connections: 0,
    proxy_protocol: false,
    cert: certs.serverCert,
    key: certs.serverKey,
    ca: certs.ca,
    require_client_cert: false,
    use_cn_as_username: false,
    min_version: 'TLSv1.2',
    ...over,
  };
}
