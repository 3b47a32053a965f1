import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { type AclSubject, compileRules, evaluate, parseAclFile } from '../../src/auth/acl.js';
import { claimRules } from '../../src/auth/jwt-auth.js';
import { Bans, FlappingDetector, TokenBucket } from '../../src/auth/limits.js';
import { AddressRange, covers, intersects, matchesTopic } from '../../src/auth/match.js';
import { hashPassword, PasswordFile, parseHash, verifyHash } from '../../src/auth/password-file.js';

const dir = mkdtempSync(join(tmpdir(), 'petrel-auth-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function hasMosquittoPasswd(): boolean {
  try {
    execFileSync('mosquitto_passwd', [], { stdio: 'ignore' });
  } catch (e) {
    return (e as { code?: string }).code !== 'ENOENT';
  }
  return true;
}

describe('auth - password hashes', () => {
  test('auth - password hashes: a file made by Debian mosquitto_passwd ($7$ PBKDF2 and -H sha512 $6$) verifies', {
    skip: !hasMosquittoPasswd() && 'mosquitto_passwd not installed',
  }, async () => {
    const f = join(dir, 'mosq.pw');
    execFileSync('mosquitto_passwd', ['-c', '-b', f, 'alice', 's3cret']);
    execFileSync('mosquitto_passwd', ['-H', 'sha512', '-b', f, 'carol', 'c4rol pw']);
    const text = readFileSync(f, 'utf8');
    assert.match(text, /^alice:\$7\$101\$/m);
    assert.match(text, /^carol:\$6\$/m);
    const pf = new PasswordFile(f);
    assert.equal(await pf.check('alice', Buffer.from('s3cret')), 'ok');
    assert.equal(await pf.check('alice', Buffer.from('s3cret ')), 'bad');
    assert.equal(await pf.check('carol', Buffer.from('c4rol pw')), 'ok');
    assert.equal(await pf.check('carol', undefined), 'bad');
    assert.equal(await pf.check('mallory', Buffer.from('x')), 'unknown');
  });

  test('auth - password hashes: Petrel scrypt entries round trip; malformed entries are rejected', async () => {
    const h = parseHash(await hashPassword('pässword'));
    assert.equal(h?.kind, 'scrypt');
    assert.equal(await verifyHash(h!, Buffer.from('pässword')), true);
    assert.equal(await verifyHash(h!, Buffer.from('password')), false);
    for (const bad of [
      'plain',
      '$7$x$AAAA$AAAA',
      '$6$AAAA',
      '$scrypt$ln=99,r=8,p=1$AAAA$AAAA',
      '$9$AAAA$AAAA',
    ])
      assert.equal(parseHash(bad), undefined, bad);
  });

  test('auth - password hashes: unknown users cost about what known ones do (verified against a dummy hash)', async () => {
    const f = join(dir, 'timing.pw');
    execFileSync(process.execPath, [
      '-e',
      `require('fs').writeFileSync(${JSON.stringify(f)}, 'u:$7$20000$AAAAAAAAAAAAAAAA$' + 'A'.repeat(86) + '==\\n')`,
    ]);
    const pf = new PasswordFile(f);
    const time = async (user: string): Promise<number> => {
      const t = process.hrtime.bigint();
      for (let i = 0; i < 5; i++) await pf.check(user, Buffer.from('x'));
      return Number(process.hrtime.bigint() - t) / 1e6;
    };
    await time('u');
    const known = await time('u');
    const unknown = await time('nobody');
    assert.ok(unknown > known / 3 && unknown < known * 3, `known ${known} ms, unknown ${unknown} ms`);
  });
});

describe('auth - topic relations', () => {
  test('auth - topic relations: matches, covers, intersects (wildcards never reach $ topics at level 1)', () => {
    assert.ok(matchesTopic('a/+/c', 'a/b/c'));
    assert.ok(matchesTopic('a/#', 'a'));
    assert.ok(!matchesTopic('#', '$SYS/x'));
    assert.ok(covers('a/#', 'a/+/c'));
    assert.ok(!covers('a/+', 'a/#'));
    assert.ok(!covers('a/b', 'a/+'));
    assert.ok(covers('+/+', '+/x'));
    assert.ok(intersects('secret/#', '#'));
    assert.ok(intersects('secret/x', '+/+'));
    assert.ok(intersects('a/#', 'a'));
    assert.ok(!intersects('a/b', 'a/c/#'));
    assert.ok(!intersects('#', '$SYS/#'));
    assert.ok(!intersects('a/b', 'a'));
  });

  test('auth - topic relations: address ranges (IPv4, IPv6, IPv4-mapped)', () => {
    const r = new AddressRange('10.0.0.0/8');
    assert.ok(r.has('10.1.2.3'));
    assert.ok(r.has('::ffff:10.1.2.3'));
    assert.ok(!r.has('11.0.0.1'));
    assert.ok(new AddressRange('::1').has('::1'));
    assert.throws(() => new AddressRange('10.0.0.0/33'), /prefix/);
    assert.throws(() => new AddressRange('example.com'), /not an address/);
  });
});

const who = (username: string | undefined, clientId = 'c1', remoteAddress = '127.0.0.1'): AclSubject => ({
  username,
  clientId,
  remoteAddress,
  listener: 'tcp:0',
});

describe('auth - acl rules', () => {
  test('auth - acl rules: first match wins; placeholders; filters must be covered to be allowed', () => {
    const rules = compileRules(
      [
        { deny: 'all', topic: 'secret/#' },
        { allow: 'subscribe', topic: 'devices/${clientid}/#' },
        { allow: 'publish', topic: 'up/${username}', qos: [0, 1] },
        { allow: 'all', topic: 'lan/#', ip: '10.0.0.0/8' },
      ],
      'acl.rules',
    );
    const sub = (topic: string) => ({ action: 'subscribe' as const, topic, qos: 0, retain: false });
    const pub = (topic: string, qos = 0) => ({ action: 'publish' as const, topic, qos, retain: false });
    assert.equal(evaluate(rules, who('u'), sub('devices/c1/#'))?.permission, 'allow');
    assert.equal(evaluate(rules, who('u'), sub('devices/+/#')), undefined);
    assert.equal(evaluate(rules, who('u'), sub('secret/+/x'))?.permission, 'deny');
    assert.equal(evaluate(rules, who('u'), sub('#')), undefined); // not covered by any rule: no match
    assert.equal(evaluate(rules, who('u'), pub('secret/a'))?.permission, 'deny');
    assert.equal(evaluate(rules, who('u'), pub('up/u'))?.permission, 'allow');
    assert.equal(evaluate(rules, who('u'), pub('up/u', 2)), undefined);
    assert.equal(evaluate(rules, who(undefined), pub('up/')), undefined);
    assert.equal(evaluate(rules, who('u', 'c1', '10.2.3.4'), pub('lan/x'))?.permission, 'allow');
    assert.equal(evaluate(rules, who('u'), pub('lan/x')), undefined);
  });

  test('auth - acl rules: client ids with +, # or / never widen a placeholder rule', () => {
    const rules = compileRules([{ allow: 'all', topic: 'devices/${clientid}/#' }], 'r');
    const sub = (topic: string) => ({ action: 'subscribe' as const, topic, qos: 0, retain: false });
    for (const id of ['#', '+', 'other/x'])
      assert.equal(evaluate(rules, who('u', id), sub(`devices/${id}/#`)), undefined, id);
  });

  test('auth - acl rules: a rule without exactly one of allow / deny is a config error naming it', () => {
    assert.throws(() => compileRules([{ topic: 'a' }], 'acl.rules'), /acl\.rules\[0\]: expected exactly one/);
    assert.throws(
      () => compileRules([{ allow: 'all', deny: 'all', topic: 'a' }], 'acl.rules'),
      /acl\.rules\[0\]/,
    );
    assert.throws(
      () => compileRules([{ allow: 'all', topic: 'a', ip: '1.2.3' }], 'acl.rules'),
      /acl\.rules\[0\]\.ip/,
    );
  });

  test('auth - acl rules: Mosquitto acl_file (anonymous topics, user, pattern %c %u, deny before allow)', () => {
    const rules = parseAclFile(
      [
        '# comment',
        'topic read public/#',
        'user alice',
        'topic readwrite alice/#',
        'topic deny alice/private',
        'topic write %c/literal',
        'pattern read devices/%c/%u/#',
      ].join('\n'),
      'acl.conf',
    );
    const q = (action: 'publish' | 'subscribe', topic: string) => ({ action, topic, qos: 0, retain: false });
    assert.equal(evaluate(rules, who(undefined), q('subscribe', 'public/x'))?.permission, 'allow');
    assert.equal(evaluate(rules, who('alice'), q('subscribe', 'public/x')), undefined);
    assert.equal(evaluate(rules, who('alice'), q('publish', 'alice/x'))?.permission, 'allow');
    assert.equal(evaluate(rules, who('alice'), q('publish', 'alice/private'))?.permission, 'deny');
    assert.equal(evaluate(rules, who('alice'), q('publish', '%c/literal'))?.permission, 'allow');
    assert.equal(evaluate(rules, who('alice'), q('publish', 'c1/literal')), undefined);
    assert.equal(evaluate(rules, who('bob'), q('subscribe', 'devices/c1/bob/#'))?.permission, 'allow');
    assert.equal(evaluate(rules, who('bob'), q('publish', 'devices/c1/bob/x')), undefined);
    assert.throws(() => parseAclFile('topik read a', 'acl.conf'), /acl\.conf:1/);
  });

  test('auth - acl rules: JWT acl claims (EMQX 5 list and EMQX 4 pub/sub/all); malformed ones are refused', () => {
    const r = claimRules([{ permission: 'allow', action: 'publish', topic: 't/1' }]);
    assert.equal(r?.length, 1);
    assert.equal(claimRules({ pub: ['a'], sub: ['b'], all: ['c'] })?.length, 3);
    assert.equal(claimRules([{ permission: 'maybe', topic: 'x' }]), undefined);
    assert.equal(claimRules({ pub: [1] }), undefined);
    assert.equal(claimRules('x'), undefined);
    assert.deepEqual(claimRules({ __proto__: ['a'] }), []);
  });
});

describe('auth - limits', () => {
  test('auth - limits: token bucket, bans with expiry, flapping window', () => {
    let now = 0;
    const clock = () => now;
    const b = new TokenBucket(10, 2, clock);
    assert.ok(b.tryTake());
    assert.ok(b.tryTake());
    assert.ok(!b.tryTake());
    now += 100;
    assert.ok(b.tryTake());
    assert.equal(b.take(3), 300);
    const bans = new Bans(
      [{ clientid: 'bad' }, { ip: '192.0.2.0/24' }, { username: 'old', until: '2000-01-01T00:00:00Z' }],
      () => Date.now(),
    );
    assert.ok(bans.isBanned({ clientId: 'bad', username: undefined, remoteAddress: '127.0.0.1' }));
    assert.ok(bans.isBanned({ clientId: 'x', username: undefined, remoteAddress: '192.0.2.7' }));
    assert.ok(!bans.isBanned({ clientId: 'x', username: 'old', remoteAddress: '127.0.0.1' }));
    assert.throws(() => new Bans([{ clientid: 'a', ip: '1.1.1.1' }]), /bans\[0\]: expected exactly one/);
    assert.throws(() => new Bans([{ clientid: 'a', until: 'soon' }]), /bans\[0\]\.until/);
    const f = new FlappingDetector(3, 1000, clock);
    assert.ok(!f.hit('c') && !f.hit('c'));
    now += 2000;
    assert.ok(!f.hit('c') && !f.hit('c'));
    assert.ok(f.hit('c'));
  });
});
