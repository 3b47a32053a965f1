// The dependency rules of docs/ARCHITECTURE.md ("Modules and their dependencies"), checked by `npm run lint`
// (dependency-cruiser). Every import of a file under src/ — static, type-only, re-export or dynamic import() —
// must match one of the `allowed` entries below; anything else is an error, and so is any cycle.
// test/lint/deps.test.ts shows that a forbidden import fails the check.

/**
 * Folders a module may import, besides its own folder, Node's built-ins and npm packages. An entry is a folder
 * name, or a path pattern under src/ for a single file.
 */
const LAYERS = {
  // Pure leaves.
  codec: [],
  topic: [],
  core: ['codec'],
  config: ['core'],
  // Domain.
  hooks: ['core', 'codec'],
  session: ['core', 'codec', 'hooks'],
  router: ['core', 'codec', 'topic', 'session'],
  retain: ['core', 'topic'],
  // The store interface and the journal; backends are chosen by the server.
  persistence: ['core', 'codec', 'session'],
  broker: ['core', 'codec', 'topic', 'hooks', 'session', 'router', 'retain', 'persistence/store\\.ts$'],
  // Per-connection state machine: the broker only through its port (src/broker/port.ts).
  protocol: ['core', 'codec', 'topic', 'hooks', 'session', 'broker'],
  // Listeners hand the server a stream and its ConnectionInfo: they know nothing of MQTT beyond that.
  transport: ['core', 'config', 'codec'],
  // Features, attached through the port and hooks; never each other's internals.
  auth: ['core', 'codec', 'topic', 'config', 'hooks', 'broker'],
  sys: ['core', 'codec', 'hooks', 'broker'],
  metrics: ['core', 'codec', 'hooks', 'broker'],
  client: ['codec'],
  // Composition root and the command line.
  server: ['*'],
  cli: ['*'],
};

const folders = Object.keys(LAYERS);
const allowed = [
  // Node's built-ins and npm packages.
  { from: {}, to: { dependencyTypesNot: ['local', 'localmodule', 'aliased', 'unknown', 'undetermined'] } },
  // Within a folder.
  { from: { path: '^src/([^/]+)/' }, to: { path: '^src/$1/' } },
  // src/index.ts, the public API, may re-export anything.
  { from: { path: '^src/index\\.ts$' }, to: { path: '^src/' } },
  // TEMPORARY, until the transport / server split (issue #19, step 2): the socket glue still lives in transport/.
  {
    from: { path: '^src/transport/(listener|sink|socket-connection|ws-connection)\\.ts$' },
    to: { path: '^src/(protocol|broker)/' },
  },
];
for (const [folder, deps] of Object.entries(LAYERS)) {
  const to = deps.includes('*') ? folders.filter((f) => f !== 'cli') : deps;
  if (to.length === 0) continue;
  const targets = to.map((t) => (t.includes('/') ? t : `${t}/`));
  allowed.push({ from: { path: `^src/${folder}/` }, to: { path: `^src/(${targets.join('|')})` } });
}

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import cycles, type-only imports included.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'no-unknown-folder',
      severity: 'error',
      comment:
        'Every folder of src/ has a place in the layering (.dependency-cruiser.cjs, docs/ARCHITECTURE.md).',
      from: { path: '^src/', pathNot: [`^src/(${folders.join('|')})/`, '^src/index\\.ts$'] },
      to: {},
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  allowed,
  allowedSeverity: 'error',
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.d\\.ts$' },
    // Type-only imports count: a cycle of types is still a cycle of design.
    tsPreCompilationDeps: true,
    parser: 'swc',
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
