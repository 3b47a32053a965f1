import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const MOSQUITTO = '/usr/sbin/mosquitto';
export const hasMosquitto = existsSync(MOSQUITTO);

/** A free loopback port (bound on port 0, read back, released). */
export async function freePort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as { port: number }).port;
  s.close();
  await once(s, 'close');
  if (!(port > 0)) throw new Error('could not get a free port');
  return port;
}

/** Resolves once a TCP connection to `port` succeeds (polls every 50 ms, at most `ms`). */
export async function waitListening(port: number, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  for (let i = 0; Date.now() < deadline && i < 1000; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listening on 127.0.0.1:${port} within ${ms} ms`);
}

/** A Debian Mosquitto started with a temporary config on a free loopback port. */
export class Mosquitto {
  private constructor(
    readonly proc: ChildProcess,
    readonly port: number,
    readonly dir: string,
    readonly wsPort: number | undefined,
  ) {}

  /** `extra` lines are appended to the config (after `listener PORT 127.0.0.1` and `allow_anonymous`). */
  static async start(
    opts: { anonymous?: boolean; websockets?: boolean; extra?: string[] } = {},
  ): Promise<Mosquitto> {
    const dir = mkdtempSync(join(tmpdir(), 'petrel-mosq-'));
    const port = await freePort();
    const wsPort = opts.websockets ? await freePort() : undefined;
    const lines = [
      `listener ${port} 127.0.0.1`,
      `allow_anonymous ${opts.anonymous ?? true}`,
      'persistence false',
    ];
    if (wsPort !== undefined) lines.push(`listener ${wsPort} 127.0.0.1`, 'protocol websockets');
    lines.push(...(opts.extra ?? []));
    const conf = join(dir, 'mosquitto.conf');
    writeFileSync(conf, `${lines.join('\n')}\n`);
    const proc = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    proc.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
    });
    try {
      await waitListening(port);
      if (wsPort !== undefined) await waitListening(wsPort);
    } catch (e) {
      proc.kill('SIGKILL');
      throw new Error(`mosquitto did not start: ${(e as Error).message}\n${err}`);
    }
    return new Mosquitto(proc, port, dir, wsPort);
  }

  async close(): Promise<void> {
    if (this.proc.exitCode === null) {
      const exited = once(this.proc, 'exit');
      this.proc.kill('SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
