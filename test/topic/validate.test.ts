import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  isSysTopic,
  isWildcardFilter,
  parseSharedFilter,
  validateTopicFilter,
  validateTopicName,
} from '../../src/topic/index.js';

const validNames: [string, string][] = [
  ['single level', 'a'],
  ['spec example', 'sport/tennis/player1'],
  ['leading slash is an empty first level [MQTT-4.7.1]', '/finance'],
  ['trailing slash', 'a/'],
  ['empty middle level', 'a//b'],
  ['only a separator', '/'],
  ['space is allowed', 'sport/tennis player'],
  ['$SYS topic', '$SYS/broker/uptime'],
  ['non-ASCII', 'capteurs/température/é€😀'],
  ['$share as a topic name level', 'a/$share/b'],
];

const invalidNames: [string, string, RegExp][] = [
  ['must not be empty [MQTT-4.7.3-1]', '', /empty/],
  ['must not contain + [MQTT-3.3.2-2]', 'a/+/b', /'\+'.*MQTT-3\.3\.2-2/],
  ['must not contain # [MQTT-3.3.2-2]', 'a/#', /'#'.*MQTT-3\.3\.2-2/],
  ['must not contain + inside a level [MQTT-3.3.2-2]', 'a+b', /'\+'/],
  ['must not contain U+0000 [MQTT-4.7.3-2]', 'a\u0000b', /U\+0000.*MQTT-4\.7\.3-2/],
  ['must not contain a lone high surrogate [MQTT-1.5.4-1]', 'a\ud800', /surrogate/],
  ['must not contain a lone low surrogate [MQTT-1.5.4-1]', '\udc00a', /surrogate/],
  ['must fit in 65535 UTF-8 bytes [MQTT-1.5.4]', 'é'.repeat(32768), /65536 bytes.*65535/],
];

const validFilters: [string, string][] = [
  ['# alone [MQTT-4.7.1-2]', '#'],
  ['+ alone [MQTT-4.7.1-3]', '+'],
  ['# as last level [MQTT-4.7.1-2]', 'sport/tennis/player1/#'],
  ['# after + ', 'sport/+/#'],
  ['+ as a whole level [MQTT-4.7.1-3]', 'sport/+/player1'],
  ['several +', '+/+'],
  ['+ with empty first level', '/+'],
  ['+ then empty level', '+/'],
  ['plain filter', 'a/b/c'],
  ['empty levels', 'a//b'],
  ['$SYS wildcard', '$SYS/#'],
  ['shared [MQTT-4.8.2-2]', '$share/g1/sport/+/player1'],
  ['shared with #', '$share/g/#'],
  ['shared with empty first inner level', '$share/g//a'],
  ['$queue legacy form', '$queue/a/+'],
  ['$sharex is not a shared subscription', '$sharex/a'],
];

const invalidFilters: [string, string, RegExp][] = [
  ['must not be empty [MQTT-4.7.3-1]', '', /empty/],
  ['# must be last level [MQTT-4.7.1-2]', 'sport/tennis/#/ranking', /last level.*MQTT-4\.7\.1-2/],
  ['# must occupy an entire level [MQTT-4.7.1-2]', 'sport/tennis#', /entire level.*MQTT-4\.7\.1-2/],
  ['## is not a level [MQTT-4.7.1-2]', '##', /'#'/],
  ['+ must occupy an entire level (suffix) [MQTT-4.7.1-3]', 'sport+', /entire level.*MQTT-4\.7\.1-3/],
  ['+ must occupy an entire level (prefix) [MQTT-4.7.1-3]', 'a/+b', /entire level/],
  ['++ is not a level [MQTT-4.7.1-3]', '++', /'\+'/],
  ['must not contain U+0000 [MQTT-4.7.3-2]', 'a/\u0000', /U\+0000/],
  ['shared: share name must not be empty [MQTT-4.8.2-1]', '$share//a', /share name.*empty/],
  ['shared: share name must not contain + [MQTT-4.8.2-1]', '$share/g+/a', /share name.*'\+'/],
  ['shared: share name must not contain # [MQTT-4.8.2-1]', '$share/#/a', /share name.*'#'/],
  ['shared: a filter must follow the share name [MQTT-4.8.2-2]', '$share/g', /must follow/],
  ['shared: inner filter must not be empty [MQTT-4.8.2-2]', '$share/g/', /must not be empty/],
  ['shared: $share alone', '$share', /share name/],
  ['shared: $share/ alone', '$share/', /share name/],
  ['shared: inner filter must be valid [MQTT-4.8.2-2]', '$share/g/a/#/b', /shared subscription.*last level/],
  ['shared: inner + must be a whole level', '$share/g/a+', /shared subscription.*'\+'/],
  ['$queue: a filter must follow', '$queue/', /\$queue/],
  ['$queue: inner filter must be valid', '$queue/#/a', /last level/],
];

describe('topic name', () => {
  for (const [name, topic] of validNames) {
    test(`name - valid: ${name}`, () => assert.equal(validateTopicName(topic), undefined));
  }
  for (const [name, topic, reason] of invalidNames) {
    test(`name - ${name}`, () => assert.match(validateTopicName(topic) ?? '<valid>', reason));
  }
  test('name - 65535 UTF-8 bytes is the maximum [MQTT-1.5.4]', () => {
    assert.equal(validateTopicName('a'.repeat(65535)), undefined);
    assert.equal(validateTopicName(`${'é'.repeat(32767)}a`), undefined);
    assert.equal(validateTopicName(`${'😀'.repeat(16383)}abc`), undefined);
    assert.match(validateTopicName('😀'.repeat(16384)) ?? '', /65536 bytes/);
  });
  test('name - maxLength limit counts UTF-8 bytes', () => {
    assert.equal(validateTopicName('abcd', { maxLength: 4 }), undefined);
    assert.match(validateTopicName('abcé', { maxLength: 4 }) ?? '', /5 bytes.*limit of 4/);
  });
  test('name - maxLevels limit counts empty levels', () => {
    assert.equal(validateTopicName('a/b/c', { maxLevels: 3 }), undefined);
    assert.match(validateTopicName('a/b//', { maxLevels: 3 }) ?? '', /4 levels.*limit of 3/);
  });
});

describe('topic filter', () => {
  for (const [name, filter] of validFilters) {
    test(`filter - valid: ${name}`, () => assert.equal(validateTopicFilter(filter), undefined));
  }
  for (const [name, filter, reason] of invalidFilters) {
    test(`filter - ${name}`, () => assert.match(validateTopicFilter(filter) ?? '<valid>', reason));
  }
  test('filter - every valid topic name is a valid filter', () => {
    for (const [, topic] of validNames) assert.equal(validateTopicFilter(topic), undefined, topic);
  });
  test('filter - length limits apply to the whole string, level limits to the inner filter', () => {
    assert.equal(validateTopicFilter('$share/group/a/b', { maxLevels: 2 }), undefined);
    assert.match(validateTopicFilter('$share/group/a/b/c', { maxLevels: 2 }) ?? '', /3 levels/);
    assert.match(validateTopicFilter('$share/group/a', { maxLength: 10 }) ?? '', /14 bytes/);
    assert.match(validateTopicFilter('a/+/#', { maxLevels: 2 }) ?? '', /3 levels/);
    assert.match(validateTopicFilter('x'.repeat(65536)) ?? '', /65535/);
  });
});

describe('shared subscriptions', () => {
  test('parse - $share/{group}/{filter} [MQTT-4.8.2]', () => {
    assert.deepEqual(parseSharedFilter('$share/g/a/b'), { group: 'g', filter: 'a/b' });
    assert.deepEqual(parseSharedFilter('$share/consumer1/sport/tennis/+'), {
      group: 'consumer1',
      filter: 'sport/tennis/+',
    });
    assert.deepEqual(parseSharedFilter('$share/g/#'), { group: 'g', filter: '#' });
    assert.deepEqual(parseSharedFilter('$share/g//a'), { group: 'g', filter: '/a' });
    assert.deepEqual(parseSharedFilter('$share/g/$SYS/#'), { group: 'g', filter: '$SYS/#' });
  });
  test('parse - $queue/{filter} (EMQX legacy)', () => {
    assert.deepEqual(parseSharedFilter('$queue/a/b'), { group: '$queue', filter: 'a/b' });
  });
  test('parse - non-shared filters yield undefined', () => {
    for (const f of ['a/b', '#', '$SYS/#', '$sharex/g/a', 'x/$share/g/a', '$share', '$share/g', '$queue']) {
      assert.equal(parseSharedFilter(f), undefined, f);
    }
  });
});

describe('predicates', () => {
  test('isWildcardFilter', () => {
    assert.equal(isWildcardFilter('a/+/b'), true);
    assert.equal(isWildcardFilter('#'), true);
    assert.equal(isWildcardFilter('a/b'), false);
    assert.equal(isWildcardFilter('$share/g/a'), false);
  });
  test('isSysTopic - topics starting with $ [MQTT-4.7.2-1]', () => {
    assert.equal(isSysTopic('$SYS/broker'), true);
    assert.equal(isSysTopic('$'), true);
    assert.equal(isSysTopic('a/$SYS'), false);
    assert.equal(isSysTopic('/$SYS'), false);
    assert.equal(isSysTopic(''), false);
  });
});
