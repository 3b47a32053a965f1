import { validateTopicFilter, validateTopicName } from '../../src/topic/index.js';

/** Reference matcher, written straight from MQTT 5.0 §4.7. */
export function matches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/** Small seeded PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAME_LEVELS = ['a', 'b', 'c', '', '$SYS', '$x'];
const FILTER_LEVELS = [...NAME_LEVELS, '+', '+', '#'];

export function randomTopic(rnd: () => number): string {
  for (;;) {
    const n = 1 + Math.floor(rnd() * 4);
    const parts: string[] = [];
    for (let i = 0; i < n; i++) parts.push(NAME_LEVELS[Math.floor(rnd() * NAME_LEVELS.length)]);
    const t = parts.join('/');
    if (validateTopicName(t) === undefined) return t;
  }
}

export function randomFilter(rnd: () => number): string {
  for (;;) {
    const n = 1 + Math.floor(rnd() * 4);
    const parts: string[] = [];
    for (let i = 0; i < n; i++) parts.push(FILTER_LEVELS[Math.floor(rnd() * FILTER_LEVELS.length)]);
    const f = parts.join('/');
    if (validateTopicFilter(f) === undefined) return f;
  }
}
