/**
 * Relations between topic filters and names, one pair at a time (the tries match many at once). A wildcard in
 * the first level never matches a topic starting with `$` [MQTT-4.7.2-1].
 */
const isWild = (l: string): boolean => l === '+' || l === '#';

/** Whether `pattern` matches the topic name `topic`. */
export function matchesTopic(pattern: string, topic: string): boolean {
  return covers(pattern, topic);
}

/** Whether every topic that `filter` matches is also matched by `pattern` (filter ⊆ pattern). */
export function covers(pattern: string, filter: string): boolean {
  const p = pattern.split('/');
  const f = filter.split('/');
  if (isWild(p[0]!) && f[0]!.startsWith('$')) return false;
  for (let i = 0; i < p.length; i++) {
    const pl = p[i]!;
    if (pl === '#') return true; // also covers the parent level (`a/#` matches `a`)
    if (i >= f.length) return false;
    const fl = f[i]!;
    if (fl === '#') return false;
    if (pl === '+') continue;
    if (fl === '+' || fl !== pl) return false;
  }
  return p.length === f.length;
}

/** Whether some topic is matched by both `a` and `b`. */
export function intersects(a: string, b: string): boolean {
  const x = a.split('/');
  const y = b.split('/');
  // First-level wildcards do not reach `$` topics.
  if ((isWild(x[0]!) && y[0]!.startsWith('$')) || (isWild(y[0]!) && x[0]!.startsWith('$'))) return false;
  const n = Math.max(x.length, y.length);
  for (let i = 0; i < n; i++) {
    const xl = x[i];
    const yl = y[i];
    if (xl === '#' || yl === '#') return true;
    if (xl === undefined) return yl === '#';
    if (yl === undefined) return xl === '#';
    if (xl === '+' || yl === '+') continue;
    if (xl !== yl) return false;
  }
  return true;
}
