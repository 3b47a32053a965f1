import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../helpers/tmp.js';

// `npm run lint:deps` (dependency-cruiser with .dependency-cruiser.cjs) on a copy of the tree: it passes as the
// tree is, and fails naming each forbidden import injected into the copy.

const root = new URL('../..', import.meta.url).pathname;

function copyTree(): string {
  const dir = tempDir('petrel-deps-');
  cpSync(join(root, 'src'), join(dir, 'src'), { recursive: true });
  for (const f of ['.dependency-cruiser.cjs', 'tsconfig.json', 'package.json'])
    cpSync(join(root, f), join(dir, f));
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

function check(dir: string): { status: number | null; out: string } {
  const r = spawnSync(
    process.execPath,
    [
      join(root, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs'),
      'src',
      '--config',
      '.dependency-cruiser.cjs',
      '--output-type',
      'err',
    ],
    { cwd: dir, encoding: 'utf8', timeout: 120_000 },
  );
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('dependency rules', () => {
  it('lint:deps - the tree as it is passes; each forbidden import injected into a copy fails', () => {
    const dir = copyTree();
    const clean = check(dir);
    assert.equal(clean.status, 0, clean.out);
    assert.match(clean.out, /no dependency violations found/);

    const src = join(dir, 'src');
    // A pure leaf importing the domain.
    appendFileSync(join(src, 'codec/index.ts'), "\nexport type { Broker } from '../broker/broker.js';\n");
    // A listener importing the protocol state machine.
    appendFileSync(
      join(src, 'transport/proxy-protocol.ts'),
      "\nexport type { ProtocolOptions } from '../protocol/options.js';\n",
    );
    // A dynamic import() upwards.
    appendFileSync(
      join(src, 'core/clock.ts'),
      "\nexport const late = (): Promise<unknown> => import('../server/server.js');\n",
    );
    // A same-layer back-import (session → router), type-only.
    appendFileSync(join(src, 'session/deque.ts'), "\nexport type { Router } from '../router/router.js';\n");
    // A cycle inside one folder, of types only.
    writeFileSync(join(src, 'hooks/loop.ts'), "export type { Hooks } from './hooks.js';\n");
    appendFileSync(join(src, 'hooks/hooks.ts'), "\nexport type { Hooks as Again } from './loop.js';\n");
    // A folder with no place in the layering.
    mkdirSync(join(src, 'stray'));
    writeFileSync(join(src, 'stray/x.ts'), "export { NEVER_EXPIRES } from '../core/limits.js';\n");

    const bad = check(dir);
    assert.notEqual(bad.status, 0, 'the check fails');
    const expect: [string, RegExp][] = [
      ['codec → broker', /not-in-allowed: src\/codec\/index\.ts → src\/broker\/broker\.ts/],
      [
        'transport → protocol',
        /not-in-allowed: src\/transport\/proxy-protocol\.ts → src\/protocol\/options\.ts/,
      ],
      ['dynamic import()', /not-in-allowed: src\/core\/clock\.ts → src\/server\/server\.ts/],
      ['session → router', /not-in-allowed: src\/session\/deque\.ts → src\/router\/router\.ts/],
      ['cycle', /no-circular: src\/hooks\/(hooks|loop)\.ts/],
      ['unknown folder', /no-unknown-folder: src\/stray\/x\.ts/],
    ];
    for (const [what, re] of expect) assert.match(bad.out, re, `${what} is reported:\n${bad.out}`);
  });
});
