import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { createCredentialStore } from '../src/accounts/credential-store.js';

// The rotated refresh tokens under DATA_DIR: after a restart the newest of each account must be
// read back, however many rotations came before, from the file an earlier version wrote too,
// and with the last line cut by a crash.
const log = pino({ level: 'silent' });
const fresh = () => mkdtempSync(join(tmpdir(), 'credential-store-'));

test('after many rotations of a few accounts, a restart reads the newest of each, from a bounded file', () => {
  const dir = fresh();
  const store = createCredentialStore(dir, log, 'capy\nhttp://x');
  for (let i = 0; i < 500; i++) store.set(`acct-${i % 3}`, `dev-${i % 3}`, `secret-${i}`, `access-${i}`);
  store.close();
  const file = join(dir, 'credentials.json');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean).length;
  assert.ok(lines <= 2 * 3 + 64 + 1, `${lines} lines for 3 accounts`);
  const again = createCredentialStore(dir, log, 'capy\nhttp://x');
  assert.deepEqual([0, 1, 2].map((a) => again.get(`acct-${a}`)?.secret), ['secret-498', 'secret-499', 'secret-497']);
  assert.equal(again.get('acct-0')?.access, 'access-498');
  // Another upstream's namespace never sees them.
  assert.equal(createCredentialStore(dir, log, 'yuewen\nhttp://x').get('acct-0'), undefined);
});

test('a line cut by a crash loses only itself', () => {
  const dir = fresh();
  const store = createCredentialStore(dir, log);
  store.set('a', 'dev-a', 'secret-a1');
  store.set('b', 'dev-b', 'secret-b1');
  store.close();
  appendFileSync(join(dir, 'credentials.json'), '{"id":"a","deviceId":"dev-a","sec');
  const again = createCredentialStore(dir, log);
  assert.equal(again.get('a')?.secret, 'secret-a1');
  assert.equal(again.get('b')?.secret, 'secret-b1');
  again.set('a', 'dev-a', 'secret-a2');
  again.close();
  assert.equal(createCredentialStore(dir, log).get('a')?.secret, 'secret-a2');
});

test("the file an earlier version wrote (one JSON object) is read, then kept as lines", () => {
  const dir = fresh();
  const file = join(dir, 'credentials.json');
  writeFileSync(file, JSON.stringify({ a: { deviceId: 'dev-a', secret: 'old-a', updatedAt: 1 }, b: { deviceId: 'dev-b', secret: 'old-b', updatedAt: 1 } }), { mode: 0o600 });
  const store = createCredentialStore(dir, log);
  assert.equal(store.get('a')?.secret, 'old-a');
  store.set('a', 'dev-a', 'new-a');
  store.close();
  assert.equal(readFileSync(file, 'utf8').split('\n').filter(Boolean).length, 2);
  const again = createCredentialStore(dir, log);
  assert.equal(again.get('a')?.secret, 'new-a');
  assert.equal(again.get('b')?.secret, 'old-b');
});
