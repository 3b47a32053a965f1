import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TopicTree } from '../../src/topic/index.js';
import { matches, prng, randomFilter, randomTopic } from './helpers.js';

function collect<V>(tree: TopicTree<V>, filter: string): string[] {
  const out: string[] = [];
  tree.match(filter, (topic) => out.push(topic));
  return out.sort();
}

function treeOf(...topics: string[]): TopicTree<string> {
  const tree = new TopicTree<string>();
  for (const t of topics) tree.set(t, `v:${t}`);
  return tree;
}

describe('TopicTree', () => {
  test('retained - set, get, replace, delete', () => {
    const tree = new TopicTree<number>();
    assert.equal(tree.set('a/b', 1), tree);
    tree.set('a/b', 2);
    tree.set('a', 3);
    assert.equal(tree.size, 2);
    assert.equal(tree.get('a/b'), 2);
    assert.equal(tree.get('a'), 3);
    assert.equal(tree.get('a/b/c'), undefined);
    assert.equal(tree.get('b'), undefined);
    assert.equal(tree.has('a'), true);
    assert.equal(tree.delete('a/c'), false);
    assert.equal(tree.delete('a'), true);
    assert.equal(tree.delete('a'), false);
    assert.equal(tree.get('a/b'), 2, 'deleting a parent keeps the child');
    assert.equal(tree.size, 1);
    assert.deepEqual([...tree.entries()], [['a/b', 2]]);
    tree.clear();
    assert.equal(tree.size, 0);
    assert.deepEqual(collect(tree, '#'), []);
  });

  test('retained - undefined is a storable value', () => {
    const tree = new TopicTree<undefined>();
    tree.set('a', undefined);
    assert.equal(tree.has('a'), true);
    assert.equal(tree.size, 1);
    assert.deepEqual(collect(tree, '#'), ['a']);
  });

  test('retained - spec examples [MQTT-4.7.1-2] [MQTT-4.7.1-3]', () => {
    const tree = treeOf(
      'sport',
      'sport/tennis',
      'sport/tennis/player1',
      'sport/tennis/player1/ranking',
      'sport/tennis/player1/score/wimbledon',
      'sport/tennis/player2',
      'sport/',
      '/finance',
    );
    assert.deepEqual(collect(tree, 'sport/tennis/player1/#'), [
      'sport/tennis/player1',
      'sport/tennis/player1/ranking',
      'sport/tennis/player1/score/wimbledon',
    ]);
    assert.deepEqual(collect(tree, 'sport/tennis/+'), ['sport/tennis/player1', 'sport/tennis/player2']);
    assert.deepEqual(collect(tree, 'sport/+'), ['sport/', 'sport/tennis']);
    assert.deepEqual(collect(tree, '+'), ['sport']);
    assert.deepEqual(collect(tree, '+/+'), ['/finance', 'sport/', 'sport/tennis']);
    assert.deepEqual(collect(tree, '/+'), ['/finance']);
    assert.deepEqual(collect(tree, 'sport/#').length, 7);
    assert.deepEqual(collect(tree, 'sport/tennis/player1'), ['sport/tennis/player1']);
    assert.deepEqual(collect(tree, 'sport/tennis/player3'), []);
  });

  test('retained - wildcard-first filters skip $ topics [MQTT-4.7.2-1]', () => {
    const tree = treeOf('$SYS/monitor/Clients', '$SYS', 'x/monitor/Clients', 'a/$SYS');
    assert.deepEqual(collect(tree, '#'), ['a/$SYS', 'x/monitor/Clients']);
    assert.deepEqual(collect(tree, '+/monitor/Clients'), ['x/monitor/Clients']);
    assert.deepEqual(collect(tree, '+'), []);
    assert.deepEqual(collect(tree, '$SYS/#'), ['$SYS', '$SYS/monitor/Clients']);
    assert.deepEqual(collect(tree, '$SYS/monitor/+'), ['$SYS/monitor/Clients']);
    assert.deepEqual(collect(tree, 'a/+'), ['a/$SYS'], 'only the first level is special');
  });

  test('retained - matches the reference matcher on random topics and filters', () => {
    const rnd = prng(7);
    const tree = new TopicTree<number>();
    const topics = new Set<string>();
    for (let i = 0; i < 600; i++) {
      const t = randomTopic(rnd);
      topics.add(t);
      tree.set(t, i);
    }
    assert.equal(tree.size, topics.size);
    let nonEmpty = 0;
    for (let i = 0; i < 3000; i++) {
      const f = randomFilter(rnd);
      const expected = [...topics].filter((t) => matches(f, t)).sort();
      if (expected.length > 0) nonEmpty++;
      const got = collect(tree, f);
      assert.deepEqual(got, expected, `filter ${JSON.stringify(f)}`);
    }
    assert.ok(nonEmpty > 1000, `the generator produces matching pairs (${nonEmpty})`);
  });

  test('retained - delete churn prunes every node', () => {
    const rnd = prng(99);
    const tree = new TopicTree<number>();
    const model = new Map<string, number>();
    for (let i = 0; i < 5000; i++) {
      const t = rnd() < 0.5 ? randomTopic(rnd) : `dev/${Math.floor(rnd() * 300)}/t`;
      if (rnd() < 0.6) {
        tree.set(t, i);
        model.set(t, i);
      } else {
        assert.equal(tree.delete(t), model.delete(t));
      }
    }
    assert.equal(tree.size, model.size);
    assert.deepEqual([...tree.entries()].sort(), [...model.entries()].sort());
    for (const t of model.keys()) assert.equal(tree.delete(t), true);
    assert.equal(tree.size, 0);
    assert.equal(tree.nodeCount, 0);
    assert.deepEqual(collect(tree, '#'), []);
  });

  test('retained - deep topics and filters do not overflow the stack', () => {
    const tree = new TopicTree<number>();
    const deep = Array.from({ length: 20000 }, (_, i) => `l${i}`).join('/');
    tree.set(deep, 1);
    tree.set('l0', 2);
    assert.deepEqual(collect(tree, '#').length, 2);
    assert.deepEqual(collect(tree, 'l0/#').length, 2);
    assert.deepEqual(collect(tree, deep), [deep]);
    const plus = Array.from({ length: 20000 }, () => '+').join('/');
    assert.deepEqual(collect(tree, plus), [deep]);
    assert.equal(tree.delete(deep), true);
    assert.equal(tree.nodeCount, 1);
  });
});
