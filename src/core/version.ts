import { readFileSync } from 'node:fs';

/** Petrel's version, from package.json (two levels up from src/sys/ and from dist/sys/). */
export const PETREL_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
})();
