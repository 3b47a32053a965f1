import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { matchesTopic, TopicTrie } from '../../src/topic/index.js';
import { matches, prng, randomFilter, randomTopic } from './helpers.js';

function collect<K, V>(trie: TopicTrie<K, V>, topic: string): string[] {
  const out: string[] = [];
  trie.match(topic, (key, _value, filter) => out.push(`${filter} ${String(key)}`));
  return out.sort();
}

function matchingFilters(trie: TopicTrie<string, number>, topic: string): string[] {
  const out = new Set<string>();
  trie.match(topic, (_k, _v, filter) => out.add(filter));
  return [...out].sort();
}

describe('TopicTrie', () => {
  test('trie - add, get, replace, remove', () => {
    const trie = new TopicTrie<string, number>();
    assert.equal(trie.add('a/+', 'c1', 1), true);
    assert.equal(trie.add('a/+', 'c1', 2), false, 'existing key is replaced, not added');
    assert.equal(trie.get('a/+', 'c1'), 2);
    assert.equal(trie.has('a/+', 'c1'), true);
    assert.equal(trie.get('a/+', 'c2'), undefined);
    assert.equal(trie.get('a/#', 'c1'), undefined);
    assert.equal(trie.add('a/+', 'c2', 3), true);
    assert.equal(trie.add('a/#', 'c1', 4), true);
    assert.equal(trie.size, 3);
    assert.equal(trie.filterCount, 2);
    assert.equal(trie.remove('a/+', 'c3'), false);
    assert.equal(trie.remove('a/b', 'c1'), false);
    assert.equal(trie.remove('a/+', 'c1'), true);
    assert.equal(trie.remove('a/+', 'c1'), false);
    assert.equal(trie.size, 2);
    assert.equal(trie.filterCount, 2);
    assert.equal(trie.remove('a/+', 'c2'), true);
    assert.equal(trie.filterCount, 1);
    assert.deepEqual([...trie.entries()], [['a/#', 'c1', 4]]);
    trie.clear();
    assert.equal(trie.size, 0);
    assert.equal(trie.filterCount, 0);
    assert.deepEqual(collect(trie, 'a/b'), []);
  });

  test('trie - visits once per (filter, key) with the filter', () => {
    const trie = new TopicTrie<string, number>();
    trie.add('a/b', 'x', 1);
    trie.add('a/b', 'y', 2);
    trie.add('a/+', 'x', 3);
    trie.add('#', 'x', 4);
    trie.add('a/b/c', 'x', 5);
    const seen: [string, number, string][] = [];
    trie.match('a/b', (k, v, f) => seen.push([k, v, f]));
    assert.deepEqual(
      seen.sort((p, q) => p[1] - q[1]),
      [
        ['x', 1, 'a/b'],
        ['y', 2, 'a/b'],
        ['x', 3, 'a/+'],
        ['x', 4, '#'],
      ],
    );
  });

  test('trie - spec examples [MQTT-4.7.1-2] multi-level wildcard', () => {
    const trie = new TopicTrie<string, number>();
    trie.add('sport/tennis/player1/#', 's', 0);
    for (const t of [
      'sport/tennis/player1',
      'sport/tennis/player1/ranking',
      'sport/tennis/player1/score/wimbledon',
    ]) {
      assert.deepEqual(collect(trie, t), ['sport/tennis/player1/# s'], t);
    }
    assert.deepEqual(collect(trie, 'sport/tennis/player2'), []);
    const sport = new TopicTrie<string, number>();
    sport.add('sport/#', 's', 0);
    assert.deepEqual(collect(sport, 'sport'), ['sport/# s'], '"sport/#" also matches "sport"');
  });

  test('trie - spec examples [MQTT-4.7.1-3] single-level wildcard', () => {
    const trie = new TopicTrie<string, number>();
    trie.add('sport/tennis/+', 'a', 0);
    trie.add('sport/+', 'b', 0);
    trie.add('+', 'c', 0);
    trie.add('+/+', 'd', 0);
    trie.add('/+', 'e', 0);
    trie.add('+/tennis/#', 'f', 0);
    assert.deepEqual(collect(trie, 'sport/tennis/player1'), ['+/tennis/# f', 'sport/tennis/+ a']);
    assert.deepEqual(collect(trie, 'sport/tennis/player1/ranking'), ['+/tennis/# f']);
    assert.deepEqual(collect(trie, 'sport/tennis'), ['+/+ d', '+/tennis/# f', 'sport/+ b']);
    assert.deepEqual(collect(trie, 'sport'), ['+ c']);
    assert.deepEqual(collect(trie, 'sport/'), ['+/+ d', 'sport/+ b'], '"sport/+" matches "sport/"');
    assert.deepEqual(collect(trie, '/finance'), ['+/+ d', '/+ e'], '"+/+" and "/+" match "/finance"');
  });

  test('trie - wildcard-first filters do not match $ topics [MQTT-4.7.2-1]', () => {
    const trie = new TopicTrie<string, number>();
    trie.add('#', 'a', 0);
    trie.add('+/monitor/Clients', 'b', 0);
    trie.add('$SYS/#', 'c', 0);
    trie.add('$SYS/monitor/+', 'd', 0);
    trie.add('+', 'e', 0);
    assert.deepEqual(collect(trie, '$SYS/monitor/Clients'), ['$SYS/# c', '$SYS/monitor/+ d']);
    assert.deepEqual(collect(trie, '$SYS'), ['$SYS/# c']);
    assert.deepEqual(collect(trie, 'x/monitor/Clients'), ['# a', '+/monitor/Clients b']);
    assert.deepEqual(collect(trie, 'a/$SYS'), ['# a']);
  });

  test('trie - empty levels are real levels', () => {
    const trie = new TopicTrie<string, number>();
    trie.add('a//b', 'x', 0);
    trie.add('a/+/b', 'y', 0);
    trie.add('/#', 'z', 0);
    trie.add('a/b', 'w', 0);
    assert.deepEqual(collect(trie, 'a//b'), ['a/+/b y', 'a//b x']);
    assert.deepEqual(collect(trie, 'a/b'), ['a/b w']);
    assert.deepEqual(collect(trie, '/'), ['/# z']);
    assert.deepEqual(collect(trie, '/a/b'), ['/# z']);
  });

  test('trie - matches the reference matcher on random filters and topics', () => {
    const rnd = prng(0x5eed);
    const trie = new TopicTrie<string, number>();
    const filters = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      const f = randomFilter(rnd);
      filters.add(f);
      trie.add(f, 'k', i);
    }
    assert.equal(trie.filterCount, filters.size);
    let nonEmpty = 0;
    for (let i = 0; i < 1000; i++) {
      const t = randomTopic(rnd);
      const expected = [...filters].filter((f) => matches(f, t)).sort();
      if (expected.length > 0) nonEmpty++;
      assert.deepEqual(matchingFilters(trie, t), expected, `topic ${JSON.stringify(t)}`);
    }
    assert.ok(nonEmpty > 300, `the generator produces matching pairs (${nonEmpty})`);
  });

  test('trie - random add/remove churn agrees with a map and leaves nothing behind', () => {
    const rnd = prng(42);
    const trie = new TopicTrie<string, number>();
    const model = new Map<string, number>(); // `${filter}\n${key}` -> value
    for (let i = 0; i < 5000; i++) {
      const f = randomFilter(rnd);
      const k = `c${Math.floor(rnd() * 4)}`;
      const id = `${f}\n${k}`;
      if (rnd() < 0.55) {
        assert.equal(trie.add(f, k, i), !model.has(id));
        model.set(id, i);
      } else {
        assert.equal(trie.remove(f, k), model.delete(id));
      }
      if (i % 500 === 0) {
        const t = randomTopic(rnd);
        const expected = [...model.keys()]
          .filter((e) => matches(e.split('\n')[0], t))
          .map((e) => e.replace('\n', ' '))
          .sort();
        assert.deepEqual(collect(trie, t), expected);
      }
    }
    assert.equal(trie.size, model.size);
    assert.equal(new Set([...model.keys()].map((e) => e.split('\n')[0])).size, trie.filterCount);
    const entries = [...trie.entries()].map(([f, k, v]) => [`${f}\n${k}`, v] as const).sort();
    assert.deepEqual(entries, [...model.entries()].sort());
    for (const id of model.keys()) {
      const [f, k] = id.split('\n');
      assert.equal(trie.remove(f, k), true);
    }
    assert.equal(trie.size, 0);
    assert.equal(trie.filterCount, 0);
    assert.deepEqual([...trie.entries()], []);
    assert.equal(trie.nodeCount, 0);
  });

  test('trie - remove prunes empty nodes (no leak over many distinct filters)', () => {
    const trie = new TopicTrie<number, boolean>();
    for (let i = 0; i < 2000; i++) {
      const f = `dev/${i}/+/s${i % 7}/#`;
      trie.add(f, i, true);
      trie.add(`x/${i}`, i, true);
    }
    assert.equal(trie.filterCount, 4000);
    assert.equal(trie.nodeCount, 1 + 2000 * 4 + 1 + 2000);
    for (let i = 0; i < 2000; i++) {
      assert.equal(trie.remove(`dev/${i}/+/s${i % 7}/#`, i), true);
      assert.equal(trie.remove(`x/${i}`, i), true);
    }
    assert.equal(trie.filterCount, 0);
    assert.equal(trie.size, 0);
    assert.equal(trie.nodeCount, 0, 'every node was pruned');
    trie.add('dev/1/+/s1/#', 1, true);
    assert.deepEqual([...trie.entries()], [['dev/1/+/s1/#', 1, true]]);
  });

  test('trie - a prefix filter survives removal of a longer one', () => {
    const trie = new TopicTrie<string, number>();
    trie.add('a/b', 'k', 1);
    trie.add('a/b/c/d', 'k', 2);
    trie.remove('a/b/c/d', 'k');
    assert.deepEqual(collect(trie, 'a/b'), ['a/b k']);
    trie.add('a/b/c/d', 'k', 2);
    trie.remove('a/b', 'k');
    assert.deepEqual(collect(trie, 'a/b/c/d'), ['a/b/c/d k']);
    assert.deepEqual(collect(trie, 'a/b'), []);
  });

  test('trie - only matching filters are visited among many siblings', () => {
    const trie = new TopicTrie<number, number>();
    for (let i = 0; i < 20000; i++) trie.add(`n/${i}/x`, i, i);
    trie.add('n/5/+', 1, 1);
    let calls = 0;
    trie.match('n/5/x', () => calls++);
    assert.equal(calls, 2);
  });

  test('trie - deep filters and topics do not overflow the stack', () => {
    const trie = new TopicTrie<string, number>();
    const deep = Array.from({ length: 5000 }, (_, i) => `l${i}`).join('/');
    trie.add(deep, 'k', 1);
    trie.add(`${deep}/#`, 'k', 2);
    const plus = Array.from({ length: 20000 }, () => '+').join('/');
    trie.add(plus, 'k', 3);
    const seen: number[] = [];
    trie.match(deep, (_k, v) => seen.push(v));
    assert.deepEqual(seen.sort(), [1, 2]);
    const t20000 = Array.from({ length: 20000 }, () => 'a').join('/');
    const seen2: number[] = [];
    trie.match(t20000, (_k, v) => seen2.push(v));
    assert.deepEqual(seen2, [3]);
    assert.equal(trie.remove(deep, 'k'), true);
    assert.equal(trie.remove(`${deep}/#`, 'k'), true);
    assert.equal(trie.remove(plus, 'k'), true);
    assert.equal(trie.filterCount, 0);
  });
});

describe('matchesTopic', () => {
  test('matchesTopic - agrees with the reference matcher over random filters and topics [MQTT-4.7.1] [MQTT-4.7.2-1]', () => {
    const rnd = prng(4242);
    const levels = ['a', 'b', '', '$SYS', '+', '#'];
    const pick = (n: number, wild: boolean): string =>
      Array.from({ length: n }, (_, i) => {
        const l = levels[Math.floor(rnd() * levels.length)]!;
        if (!wild && (l === '+' || l === '#')) return 'c';
        if (l === '#' && i < n - 1) return '+';
        return l;
      }).join('/');
    for (let i = 0; i < 3000; i++) {
      const filter = pick(1 + Math.floor(rnd() * 4), true);
      const topic = pick(1 + Math.floor(rnd() * 4), false);
      assert.equal(matchesTopic(filter, topic), matches(filter, topic), `${filter} vs ${topic}`);
    }
  });
});
