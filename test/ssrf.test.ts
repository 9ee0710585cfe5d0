// @dialect yuewen
import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { after, before, describe, test } from 'node:test';
import { createAddressPolicy, forbiddenReason, guardedLookup } from '../src/attachments/address-guard.js';
import { startStack, type Stack } from './helpers.js';

describe('the address guard', () => {
  const refused = [
    '127.0.0.1', '127.8.9.10', '10.0.0.1', '172.16.5.4', '192.168.1.1', '169.254.169.254', '100.100.100.200',
    '0.0.0.0', '168.63.129.16', '192.0.0.192', '::1', '::', 'fe80::1', 'fe80::1%eth0', 'fd00:ec2::254', 'fc00::1',
    '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:a9fe:a9fe', '::127.0.0.1', '64:ff9b::a00:1', '2002:7f00:1::1', 'ff02::1',
  ];
  const allowed = ['8.8.8.8', '1.1.1.1', '93.184.216.34', '2606:4700:4700::1111', '::ffff:8.8.8.8', '2002:808:808::1'];

  test('loopback, private, link-local, unique-local and metadata addresses are refused, in every notation', () => {
    for (const address of refused) assert.ok(forbiddenReason(address), `${address} should be refused`);
  });

  test('public addresses pass', () => {
    for (const address of allowed) assert.equal(forbiddenReason(address), undefined, address);
  });

  test('the allow-list exempts host names, addresses and CIDRs, and nothing else', () => {
    const policy = createAddressPolicy('files.intranet, 10.1.0.0/16, 127.0.0.1, [fd00::7]');
    assert.equal(policy.refusal('10.1.200.3'), undefined);
    assert.equal(policy.refusal('127.0.0.1'), undefined);
    assert.equal(policy.refusal('fd00::7'), undefined);
    assert.ok(policy.refusal('10.2.0.1'));
    assert.ok(policy.refusal('127.0.0.2'));
    assert.ok(policy.hostExempt('Files.Intranet.'));
    assert.ok(!policy.hostExempt('other.intranet'));
    for (const bad of ['10.0.0.0/33', 'files/8', '1.2.3.4/x']) assert.throws(() => createAddressPolicy(bad), /ATTACHMENT_ALLOW_HOSTS/);
  });

  /** Runs the guarded lookup with a resolver that answers `addresses` for every name. */
  function lookupWith(addresses: string[], allow = '', host = 'files.example') {
    const resolve = (_h: string, _o: unknown, cb: (err: null, a: LookupAddress[]) => void) =>
      cb(null, addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })));
    return new Promise<{ err: (Error & { code?: string }) | null; result: unknown }>((done) =>
      guardedLookup(createAddressPolicy(allow), resolve)(host, { all: true }, (err, result) => done({ err, result })),
    );
  }

  test('a name that resolves to a private address is refused at the lookup that connects', async () => {
    const { err } = await lookupWith(['10.0.0.5']);
    assert.equal(err?.code, 'STEP_ATTACHMENT_FORBIDDEN');
    assert.match(err!.message, /files\.example.*private/);
  });

  test('of a name with public and private addresses, only the public ones are connected to', async () => {
    const { err, result } = await lookupWith(['10.0.0.5', '93.184.216.34', '::1']);
    assert.equal(err, null);
    assert.deepEqual(result, [{ address: '93.184.216.34', family: 4 }]);
  });

  test('an exempt host name resolves to whatever it resolves to', async () => {
    const { result } = await lookupWith(['10.0.0.5'], 'files.example');
    assert.deepEqual(result, [{ address: '10.0.0.5', family: 4 }]);
  });
});

describe('attachment URLs to internal addresses are refused through the API', () => {
  let open: Stack; // default settings: nothing exempt
  let exempt: Stack; // the emulator's 127.0.0.1 exempt, to play a public origin that redirects
  before(async () => {
    // The dialect with uploads, as in the other attachment suites.
    open = await startStack({ emulator: { dialect: 'yuewen' }, config: { STEP_DIALECT: 'yuewen' } });
    exempt = await startStack({ emulator: { dialect: 'yuewen' }, config: { STEP_DIALECT: 'yuewen', ATTACHMENT_ALLOW_HOSTS: '127.0.0.1' } });
  });
  after(async () => {
    for (const s of [open, exempt]) {
      await s.settled();
      await s.close();
    }
  });

  async function expectForbidden(s: Stack, url: string) {
    const created = s.emu.stats().chatsCreated;
    const res = await s.post({ model: 'step', messages: [{ role: 'user', content: [{ type: 'text', text: 'see' }, { type: 'image_url', image_url: { url } }] }] });
    const body = (await res.json()) as { error: { code: string; type: string; message: string } };
    assert.equal(res.status, 400, `${url}: ${body.error?.message}`);
    assert.equal(body.error.code, 'attachment_forbidden', `${url}: ${body.error.message}`);
    assert.equal(body.error.type, 'invalid_request_error');
    assert.equal(s.emu.stats().chatsCreated, created);
  }

  test('127.0.0.1, 10.0.0.1, 169.254.169.254, [::1] and other spellings of them are refused by default', async () => {
    const port = new URL(open.emu.url).port;
    const urls = [
      `http://127.0.0.1:${port}/files/pixel.png`, // the emulator itself: reachable, so only the guard stops it
      'http://10.0.0.1/a.png',
      'http://169.254.169.254/latest/meta-data/',
      `http://[::1]:${port}/files/pixel.png`,
      `http://[::ffff:127.0.0.1]:${port}/files/pixel.png`,
      `http://2130706433:${port}/files/pixel.png`,
      `http://0x7f.1:${port}/files/pixel.png`,
      `http://0177.0.0.1:${port}/files/pixel.png`,
      'http://0/',
      'https://[fd00:ec2::254]/latest/meta-data/',
    ];
    for (const url of urls) await expectForbidden(open, url);
    assert.equal(open.emu.requests.filter((r) => r.path.startsWith('/files/')).length, 0, 'the emulator saw no file request');
  });

  test('a host name that resolves to a private address is refused by default', async () => {
    await expectForbidden(open, `http://localhost:${new URL(open.emu.url).port}/files/pixel.png`);
    assert.equal(open.emu.requests.filter((r) => r.path.startsWith('/files/')).length, 0);
  });

  test('a permitted URL that redirects to a forbidden address is refused at the redirect', async () => {
    const port = new URL(exempt.emu.url).port;
    const targets = ['http://169.254.169.254/latest/meta-data/iam/', 'http://10.0.0.1/', `http://127.0.0.2:${port}/files/pixel.png`, `http://[::1]:${port}/files/pixel.png`];
    for (const to of targets) {
      const hops = exempt.emu.requests.filter((r) => r.path === '/files/redirect').length;
      await expectForbidden(exempt, `${exempt.emu.url}/files/redirect?hops=1&to=${encodeURIComponent(to)}`);
      assert.equal(exempt.emu.requests.filter((r) => r.path === '/files/redirect').length - hops, 2, 'both redirect hops were followed');
    }
  });

  test('a redirect to another scheme is refused', async () => {
    const res = await exempt.post({
      model: 'step',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'see' }, { type: 'image_url', image_url: { url: `${exempt.emu.url}/files/redirect?to=${encodeURIComponent('file:///etc/passwd')}` } }] }],
    });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'attachment_invalid');
  });
});
