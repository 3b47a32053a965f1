import { type ChildProcess, spawn } from 'node:child_process';

const CLI = new URL('../dist/cli/petrel.js', import.meta.url).pathname;

/** Starts the built broker (`petrel start --config cfg`) and resolves with its TCP port once it listens. */
export async function startBrokerProcess(cfg: string): Promise<{ p: ChildProcess; port: number }> {
  const p = spawn(process.execPath, [CLI, 'start', '--config', cfg, '--log-level', 'info'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  for await (const chunk of p.stdout!) {
    out += chunk.toString();
    const m = /"port":(\d+),"msg":"listening on tcp/.exec(out);
    if (m) {
      p.stdout!.resume();
      return { p, port: Number(m[1]) };
    }
  }
  throw new Error(`broker did not start: ${out}`);
}
