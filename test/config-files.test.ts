import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { answerFor } from './emulator/index.js';
import { suiteStack } from './helpers.js';
import { ConfigError, loadConfig } from '../src/config.js';

// README: any variable can be read from a file, `<NAME>_FILE` (Docker secrets, or a pool too
// large for one environment variable), one item per line; comments and blank lines skipped.
const dir = mkdtempSync(join(tmpdir(), 'config-files-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

describe('STEP_TOKENS_FILE and API_KEYS_FILE', () => {
  const tokens: string[] = [];
  const s = suiteStack({
    emulator: { fragment: false, frames: 4 },
    config: (emu) => {
      for (let i = 0; i < 3; i++) tokens.push(emu.addAccount().token);
      const config = loadConfig({
        STEP_TOKENS_FILE: file('tokens', `# the team's accounts\n${tokens[0]}\n\n  ${tokens[1]}  \r\n${tokens[2]}\n`),
        API_KEYS_FILE: file('keys', 'alice:sk-file-alice-12345678\n'),
        ADMIN_KEY_FILE: file('admin', 'admin-from-file\n'),
      });
      return { STEP_TOKENS: config.STEP_TOKENS, API_KEYS: config.API_KEYS, ADMIN_KEY: config.ADMIN_KEY };
    },
  });

  test('the pool of the file answers behind the key of the file, and lists its three accounts', async () => {
    const res = await s.client('sk-file-alice-12345678').chat.completions.create({ model: 'step', messages: [{ role: 'user', content: 'from a file' }] });
    assert.equal(res.choices[0]!.message.content, answerFor('from a file', 4).join(''));
    const admin = await fetch(`${s.baseUrl}/admin/accounts`, { headers: { authorization: 'Bearer admin-from-file' } });
    assert.equal(admin.status, 200);
    const body = await admin.text();
    assert.equal((JSON.parse(body) as { accounts: unknown[] }).accounts.length, 3);
    for (const t of tokens) assert.ok(!body.includes(t.split('@')[1]!), 'a pool secret in the admin body');
  });
});

test('a variable given both ways, or a file that cannot be read, is a configuration error naming it', () => {
  assert.throws(() => loadConfig({ STEP_TOKENS: 'a@b', STEP_TOKENS_FILE: file('both', 'a@b') }), (err: unknown) => err instanceof ConfigError && /STEP_TOKENS or STEP_TOKENS_FILE/.test(err.message));
  assert.throws(
    () => loadConfig({ API_KEYS_FILE: join(dir, 'missing') }),
    (err: unknown) => err instanceof ConfigError && err.message.includes('API_KEYS_FILE') && err.message.includes('ENOENT'),
  );
  // A number read from a file is checked like the variable.
  assert.throws(() => loadConfig({ PORT_FILE: file('port', 'eighty\n') }), (err: unknown) => err instanceof ConfigError && err.message.includes('PORT'));
  assert.equal(loadConfig({ PORT_FILE: file('port2', '8123\n') }).PORT, 8123);
});
