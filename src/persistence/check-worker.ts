/**
 * Child process entry of `inspectStore`: reads the store named by argv[2] and writes the report as JSON. LMDB
 * maps the file into memory, so a truncated or corrupt file can kill the reader with SIGBUS/SIGSEGV; the parent
 * survives that and reports it.
 */
import { checkStore } from './check.js';

const report = await checkStore(process.argv[2] ?? '');
process.stdout.write(JSON.stringify(report));
