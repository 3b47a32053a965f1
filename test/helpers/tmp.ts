import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

const dirs: string[] = [];
// Registered when a test file imports this module (each test file runs in its own process).
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A new empty directory under the OS temp dir, removed when the test file ends. */
export function tempDir(prefix = 'petrel-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}
