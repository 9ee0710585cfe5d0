import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { answerFor, CAPY_PATHS, YUEWEN_PATHS, type AccountFault, type Emulator } from './emulator/index.js';
import { collectStream, DIALECT, suiteStack, waitFor } from './helpers.js';

const key = 'sk-health-suite-key';
const adminKey = 'admin-health-suite';

interface AdminAccount {
  id: string;
  label: string;
  state: string;
  reason: string | null;
  inflight: number;
  successes: number;
  failures: number;
  lastErrorCode: string | null;
}

/** GET /admin/accounts, by device-id prefix; checks that no pool secret is in the body. */
async function adminAccounts(s: ReturnType<typeof suiteStack>, accounts: Account[]): Promise<Map<string, AdminAccount>> {
  const res = await fetch(`${s.baseUrl}/admin/accounts`, { headers: { authorization: `Bearer ${adminKey}` } });
  assert.equal(res.status, 200);
  const text = await res.text();
  for (const a of accounts) assert.ok(!text.includes(a.userToken) && !text.includes(a.deviceId), 'the admin status holds no token and no whole device id');
  const body = JSON.parse(text) as { accounts: AdminAccount[] };
  return new Map(accounts.map((a) => [a.deviceId, body.accounts.find((x) => a.deviceId.startsWith(x.label.replace('…', '')))!]));
}
const ask = (content: string) => ({ model: 'step', messages: [{ role: 'user' as const, content }] });
type Account = ReturnType<Emulator['addAccount']>;

/** Access-token requests (logins) this device made. */
function logins(emu: Emulator, deviceId: string): number {
  const paths: string[] = [CAPY_PATHS.refreshToken, YUEWEN_PATHS.registerDevice];
  return emu.requests.filter((r) => paths.includes(r.path) && r.headers['oasis-webid'] === deviceId).length;
}

/** Runs `total` completions, `width` at a time, and returns which device answered each. */
async function completions(s: ReturnType<typeof suiteStack>, prefix: string, total: number, width: number): Promise<string[]> {
  const client = s.client(key);
  let next = 0;
  const served: string[] = [];
  async function lane(): Promise<void> {
    while (next < total) {
      const i = next++;
      const prompt = `${prefix} ${i}`;
      const res = await client.chat.completions.create(ask(prompt));
      assert.equal(res.choices[0]!.message.content, answerFor(prompt, 4).join(''));
      served.push(s.emu.messages.find((m) => m.text.endsWith(prompt))!.deviceId);
    }
  }
  await Promise.all(Array.from({ length: width }, lane));
  return served;
}

describe('server pool of three: one account rejected, one answering 503', () => {
  const accounts: Record<'dead' | 'flaky' | 'good', Account> = {} as never;
  const s = suiteStack({
    emulator: { fragment: false, frames: 4 },
    config: (emu) => {
      accounts.dead = emu.addAccount();
      emu.revokeAccount(accounts.dead.userToken);
      accounts.flaky = emu.addAccount();
      emu.faultAccount(accounts.flaky.deviceId, { status: 503 });
      accounts.good = emu.addAccount();
      // Short cool-downs so the flaky account is tried again within the test; re-checks far apart.
      return {
        STEP_TOKENS: Object.values(accounts).map((a) => a.token).join(','),
        API_KEYS: key,
        ADMIN_KEY: adminKey,
        ACCOUNT_BACKOFF_MAX_MS: 100,
        ACCOUNT_RECHECK_MS: 3_600_000,
      };
    },
  });

  test('300 completions at concurrency 6 all succeed, answered by the good account', async () => {
    const served = await completions(s, 'pool of three', 300, 6);
    assert.equal(served.length, 300);
    assert.ok(served.every((d) => d === accounts.good.deviceId));
  });

  test('the rejected account was tried once, not once per request', () => {
    assert.equal(logins(s.emu, accounts.dead.deviceId), 1);
  });

  test('the 503 account was tried again after each cool-down, not on every request', () => {
    const tries = logins(s.emu, accounts.flaky.deviceId);
    assert.ok(tries >= 1 && tries < 300, `${tries} logins of the failing account`);
  });

  test('/admin/accounts shows the rejected account dead and the failing one cooling', async () => {
    const status = await adminAccounts(s, Object.values(accounts));
    const dead = status.get(accounts.dead.deviceId)!;
    const flaky = status.get(accounts.flaky.deviceId)!;
    const good = status.get(accounts.good.deviceId)!;
    assert.equal(dead.state, 'dead');
    // capy answers a revoked token with a guest session, yuewen with a refusal.
    assert.equal(dead.reason, DIALECT === 'capy' ? 'guest token' : 'rejected');
    assert.equal(dead.lastErrorCode, 'token_rejected');
    assert.equal(flaky.state, 'cooling');
    assert.equal(flaky.reason, 'upstream 503');
    assert.ok(flaky.failures >= 1);
    assert.equal(good.state, 'healthy');
    assert.ok(good.successes >= 300);
  });

  test('when the 503s stop, that account returns to service', async () => {
    s.emu.faultAccount(accounts.flaky.deviceId, undefined);
    const client = s.client(key);
    let i = 0;
    // Requests drive it back: a cooled-down account is tried by the next request.
    while (!s.emu.messages.some((m) => m.deviceId === accounts.flaky.deviceId) && i < 200) {
      await Promise.all([0, 1].map(() => client.chat.completions.create(ask(`recovering ${i++}`))));
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(s.emu.messages.some((m) => m.deviceId === accounts.flaky.deviceId), 'the recovered account answers again');
    assert.equal((await adminAccounts(s, Object.values(accounts))).get(accounts.flaky.deviceId)!.state, 'healthy');
  });

  test('POST /admin/accounts/:id/recheck logs the dead account in again and reports it', async () => {
    const { id } = (await adminAccounts(s, Object.values(accounts))).get(accounts.dead.deviceId)!;
    const before = logins(s.emu, accounts.dead.deviceId);
    const res = await fetch(`${s.baseUrl}/admin/accounts/${id}/recheck`, { method: 'POST', headers: { authorization: `Bearer ${adminKey}` } });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as AdminAccount).state, 'dead');
    assert.equal(logins(s.emu, accounts.dead.deviceId), before + 1);
    s.emu.addAccount(accounts.dead.deviceId, accounts.dead.userToken);
    const again = await fetch(`${s.baseUrl}/admin/accounts/${id}/recheck`, { method: 'POST', headers: { authorization: `Bearer ${adminKey}` } });
    assert.equal(((await again.json()) as AdminAccount).state, 'healthy');
  });

  test('the admin routes refuse a missing or wrong ADMIN_KEY, and an unknown account is a 404', async () => {
    for (const headers of [{}, { authorization: 'Bearer nope' }, { authorization: `Bearer ${key}` }] as Record<string, string>[]) {
      const res = await fetch(`${s.baseUrl}/admin/accounts`, { headers });
      assert.equal(res.status, 401);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'invalid_admin_key');
    }
    const res = await fetch(`${s.baseUrl}/admin/accounts/nope/recheck`, { method: 'POST', headers: { authorization: `Bearer ${adminKey}` } });
    assert.equal(res.status, 404);
  });
});

describe('failover at each step before the answer starts', () => {
  const accounts: Account[] = [];
  // No ADMIN_KEY here: the admin routes do not exist.
  const s = suiteStack({
    emulator: { fragment: false, frames: 4 },
    config: (emu) => {
      accounts.push(emu.addAccount(), emu.addAccount());
      return { STEP_TOKENS: accounts.map((a) => a.token).join(','), API_KEYS: key, ACCOUNT_BACKOFF_MAX_MS: 50 };
    },
  });

  const faults: [string, AccountFault][] = [
    ['create-chat answering 500', { status: 500, calls: ['CreateChatSession', 'CreateChat'] }],
    ['stream start answering 503', { status: 503, calls: ['ChatStream', 'SendMessageStream'] }],
    ['stream start rate-limited', { status: 429, body: { code: 'resource_exhausted', message: 'slow down' }, calls: ['ChatStream', 'SendMessageStream'] }],
    ['connections reset', { reset: true }],
    [
      'chat creation saying the account needs sign-in',
      { status: 403, body: { code: 'permission_denied', message: 'sign in', details: [{ debug: { code: 'CODE_ACCOUNT_NEED_SIGN_IN' } }] }, calls: ['CreateChatSession', 'CreateChat'] },
    ],
  ];
  for (const [name, fault] of faults) {
    test(`an account with ${name} is skipped and every completion succeeds, its chats deleted`, async () => {
      const [bad, good] = accounts as [Account, Account];
      s.emu.faultAccount(bad.deviceId, fault);
      try {
        const client = s.client(key);
        for (let i = 0; i < 6; i++) {
          const stream = await client.chat.completions.create({ ...ask(`${name} ${i}`), stream: true });
          const { content } = await collectStream(stream);
          assert.equal(content, answerFor(`${name} ${i}`, 4).join(''));
          assert.equal(s.emu.messages.at(-1)!.deviceId, good.deviceId);
        }
      } finally {
        s.emu.faultAccount(bad.deviceId, undefined);
      }
      await s.settled();
      assert.equal(s.emu.stats().liveChats, 0);
    });
  }

  test('without ADMIN_KEY there is no admin route', async () => {
    const res = await fetch(`${s.baseUrl}/admin/accounts`, { headers: { authorization: 'Bearer anything' } });
    assert.equal(res.status, 404);
  });

  test('after the first chunk there is no retry: a failure ends the stream with an error chunk', async () => {
    const before = s.emu.messages.length;
    const res = await s.post({ ...ask('cut off #fault:reset'), stream: true }, { authorization: `Bearer ${key}` });
    assert.equal(res.status, 200);
    const body = await res.text();
    assert.match(body, /"error":\{/);
    assert.ok(body.trimEnd().endsWith('data: [DONE]'));
    assert.equal(s.emu.messages.length - before, 1, 'the message went upstream once');
  });
});

describe('a dead pool account is re-checked in the background', () => {
  const accounts: Account[] = [];
  const s = suiteStack({
    emulator: { fragment: false, frames: 4 },
    config: (emu) => {
      accounts.push(emu.addAccount(), emu.addAccount());
      emu.revokeAccount(accounts[0]!.userToken);
      return { STEP_TOKENS: accounts.map((a) => a.token).join(','), API_KEYS: key, ACCOUNT_RECHECK_MS: 100 };
    },
  });

  test('once the upstream takes it again, it serves completions again', async () => {
    const [dead] = accounts as [Account];
    await s.client(key).chat.completions.create(ask('finds it dead'));
    s.emu.addAccount(dead.deviceId, dead.userToken);
    await waitFor(() => logins(s.emu, dead.deviceId) >= 2, 'a re-check login');
    const served = await completions(s, 'after the re-check', 8, 2);
    assert.ok(served.includes(dead.deviceId), 'the revived account answers some');
  });
});

describe('a cooling account waits out its back-off', () => {
  const accounts: Account[] = [];
  const s = suiteStack({
    emulator: { fragment: false, frames: 4 },
    config: (emu) => {
      accounts.push(emu.addAccount());
      emu.faultAccount(accounts[0]!.deviceId, { status: 503 });
      return { STEP_TOKENS: accounts[0]!.token, API_KEYS: key, ACCOUNT_BACKOFF_MIN_MS: 120_000 };
    },
  });

  test('with no usable pool account the answer is 503 with Retry-After, and the account is not tried again during its cool-down', async () => {
    const [flaky] = accounts as [Account];
    const statuses: number[] = [];
    let retryAfter = '';
    for (let i = 0; i < 5; i++) {
      const res = await s.post(ask(`nobody healthy ${i}`), { authorization: `Bearer ${key}` });
      statuses.push(res.status);
      retryAfter = res.headers.get('retry-after') ?? '';
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'no_usable_token');
    }
    assert.deepEqual(statuses, [503, 503, 503, 503, 503]);
    // The remaining cool-down, in whole seconds: most of the 120 s back-off.
    assert.ok(Number(retryAfter) > 60 && Number(retryAfter) <= 120, `Retry-After ${retryAfter}`);
    assert.equal(logins(s.emu, flaky.deviceId), 1);
    s.emu.faultAccount(flaky.deviceId, undefined);
  });
});

describe('a pool whose every account is signed out', () => {
  const accounts: Account[] = [];
  const s = suiteStack({
    emulator: { fragment: false, frames: 4 },
    config: (emu) => {
      accounts.push(emu.addAccount(), emu.addAccount());
      for (const a of accounts) emu.revokeAccount(a.userToken);
      return { STEP_TOKENS: accounts.map((a) => a.token).join(','), API_KEYS: key };
    },
  });

  test('answers 503 saying the tokens need replacing, on the first request and the next, with no token in the body', async () => {
    for (const attempt of ['first', 'next']) {
      const res = await s.post(ask(`anyone there, ${attempt}?`), { authorization: `Bearer ${key}` });
      assert.equal(res.status, 503, attempt);
      assert.ok(Number(res.headers.get('retry-after')) > 0);
      const text = await res.text();
      const { error } = JSON.parse(text) as { error: { code: string; message: string } };
      assert.equal(error.code, 'no_usable_token');
      assert.match(error.message, /2 signed out or rejected by StepChat \(their tokens need replacing/, attempt);
      assert.match(error.message, /Getting your token/);
      for (const a of accounts) assert.ok(!text.includes(a.userToken) && !text.includes(a.deviceId), 'no token and no device id in the body');
    }
    assert.equal(s.emu.stats().chatsCreated, 0);
  });
});
