import { join } from 'node:path';
import { parseConfig } from '../../src/config/index.js';
import type { ConfigPatch } from './broker.js';

/**
 * The security sections (auth, acl, limits, bans) of a YAML config, resolved with defaults as `petrel start -c`
 * would. Relative file names resolve against `dir` (the folder of an imagined config file) when given.
 */
export function security(yaml: string, dir?: string): ConfigPatch {
  const c = parseConfig(yaml, dir === undefined ? undefined : join(dir, 'petrel.yaml'));
  return { auth: c.auth, acl: c.acl, limits: c.limits, bans: c.bans };
}
