import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { PacketType } from '../../src/codec/index.js';
import { connectPacket, RawClient } from '../helpers/broker.js';

const CLI = new URL('../../src/cli/petrel.ts', import.meta.url).pathname;

function run(args: string[]): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Waits for the "listening on" log line and returns the bound port. */
async function listeningPort(p: ChildProcess): Promise<number> {
  let out = '';
  for await (const chunk of p.stdout!) {
    out += chunk.toString();
    const m = /"port":(\d+),"msg":"listening on tcp/.exec(out);
    if (m) return Number(m[1]);
  }
  throw new Error(`broker exited before listening: ${out}`);
}

describe('cli start', () => {
  it('start - listens where --port says, logs it, and SIGTERM sends v5 clients DISCONNECT 0x8B', async () => {
    // The metrics listener binds port 0 too (its default, 18083, may be taken on a shared machine).
    const dir = mkdtempSync(join(tmpdir(), 'petrel-cli-'));
    writeFileSync(join(dir, 'petrel.yaml'), 'http: { host: 127.0.0.1, port: 0 }\n');
    const p = run([
      'start',
      '--config',
      join(dir, 'petrel.yaml'),
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--ws-port',
      '0',
      '--data-dir',
      join(dir, 'data'),
    ]);
    try {
      const port = await listeningPort(p);
      assert.ok(port > 0);
      const c = await RawClient.connect(port, 5);
      c.send(connectPacket(5, { clientId: 'cli-v5' }));
      assert.equal((await c.next()).type, PacketType.Connack);
      const exited = once(p, 'exit');
      p.kill('SIGTERM');
      const d = await c.next();
      assert.equal(d.type, PacketType.Disconnect);
      assert.equal((d as { reasonCode: number }).reasonCode, 0x8b);
      assert.ok(await c.waitClosed());
      const [code] = await exited;
      assert.equal(code, 0);
    } finally {
      p.kill('SIGKILL');
    }
  });

  it('start - a config error names the file, line and key and stops start-up', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'petrel-cli-'));
    const file = join(dir, 'petrel.yaml');
    writeFileSync(file, 'mqtt:\n  max_inflght: 10\n');
    const p = run(['start', '--config', file]);
    let err = '';
    p.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
    });
    const [code] = await once(p, 'exit');
    assert.equal(code, 2);
    assert.match(err, /petrel\.yaml:2/);
    assert.match(err, /mqtt\.max_inflght: unknown key \(did you mean "max_inflight"\?\)/);
  });

  it('start - a bad --port value is refused', async () => {
    const p = run(['start', '--port', 'abc']);
    let err = '';
    p.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
    });
    const [code] = await once(p, 'exit');
    assert.equal(code, 2);
    assert.match(err, /--port/);
  });
});
