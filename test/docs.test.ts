import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { defaultConfig, parseConfig } from '../src/config/index.js';

const root = new URL('..', import.meta.url);
const readmes = ['README.md', 'README.zh-CN.md'].map(
  (f) => [f, readFileSync(new URL(f, root), 'utf8')] as const,
);

/** The YAML block of a README's configuration section. */
function configBlock(text: string): string {
  const m = /```yaml\n(listeners:[\s\S]*?)```/.exec(text);
  assert.ok(m, 'README has a yaml block starting with listeners:');
  return m[1]!;
}

describe('docs', () => {
  for (const [file, text] of readmes) {
    it(`docs - ${file} quick start is the two commands`, () => {
      assert.match(text, /npm install && npm start/);
      assert.match(text, /npm install && npm test/);
    });

    it(`docs - ${file} configuration example is valid and names every key`, () => {
      const block = configBlock(text);
      const parsed = parseConfig(block, file);
      const raw = parse(block) as { mqtt: Record<string, unknown>; log: Record<string, unknown> };
      for (const key of Object.keys(defaultConfig().mqtt))
        assert.ok(key in raw.mqtt, `${file} does not document mqtt.${key}`);
      // The example lists every mqtt key at its default.
      assert.deepEqual(parsed.mqtt, defaultConfig().mqtt);
      // And every limits key at its default (the secure defaults explained next to it).
      const rawLimits = (parse(block) as { limits: Record<string, unknown> }).limits;
      for (const key of Object.keys(defaultConfig().limits))
        assert.ok(key in rawLimits, `${file} does not document limits.${key}`);
      assert.deepEqual(parsed.limits, defaultConfig().limits);
    });
  }
});
