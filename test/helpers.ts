import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before } from 'node:test';
import OpenAI from 'openai';
import { buildApp } from '../src/app.js';
import { loadConfig, type Config } from '../src/config.js';
import { startEmulator, type Emulator, type EmulatorOptions } from './emulator/index.js';

/** The upstream dialect the suites run against; `npm test` runs them with each. */
export const DIALECT: 'capy' | 'yuewen' = process.env.STEP_TEST_DIALECT === 'yuewen' ? 'yuewen' : 'capy';

/** Collects every log line the service writes. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.lines.push(chunk.toString('utf8'));
    done();
  }
  get text(): string {
    return this.lines.join('');
  }
}

export interface Stack {
  emu: Emulator;
  app: Awaited<ReturnType<typeof buildApp>>;
  baseUrl: string;
  token: string;
  logs: LogCapture;
  client(apiKey?: string): OpenAI;
  /** POST /v1/chat/completions with fetch, for what the SDK hides (headers, raw bytes). */
  post(body: unknown, headers?: Record<string, string>): Promise<Response>;
  /** Stops the service and starts a new one with the same config and data directory. */
  restart(): Promise<void>;
  /** Waits until every upstream chat was deleted but those kept for a conversation (deletion runs in the background). */
  settled(): Promise<void>;
  close(): Promise<void>;
}

/** Starts the emulator and the service wired to it, both on port 0. */
export async function startStack(
  opts: { emulator?: EmulatorOptions; config?: Partial<Config> | ((emu: Emulator) => Partial<Config>); dataDir?: string } = {},
): Promise<Stack> {
  const emu = await startEmulator({ dialect: DIALECT, frames: 20, ...opts.emulator });
  const account = emu.addAccount();
  const logs = new LogCapture();
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'step-gateway-test-'));
  const config = loadConfig(
    {},
    {
      STEP_DIALECT: DIALECT,
      STEP_BASE_URL: emu.url,
      LOG_LEVEL: 'debug',
      HOST: '127.0.0.1',
      PORT: 0,
      DATA_DIR: dataDir,
      // Suites expect every chat deleted after its completion; conversation suites ask for auto or id.
      CONVERSATION_MODE: 'off',
      // A loaded 2-core machine lags the event loop past the 1 s default and would shed a suite's
      // requests; load shedding has its own suite (ops.test.ts), which sets a threshold.
      PRESSURE_MAX_EVENT_LOOP_DELAY_MS: 0,
      ...(typeof opts.config === 'function' ? opts.config(emu) : opts.config),
    },
  );
  const secrets = new Set<string>();
  const serve = async () => {
    const app = await buildApp(config, { logStream: logs });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    return { app, baseUrl: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}` };
  };
  const { app, baseUrl } = await serve();

  const stack: Stack = {
    emu,
    app,
    baseUrl,
    token: account.token,
    logs,
    client: (apiKey = account.token) => {
      secrets.add(apiKey);
      return new OpenAI({ apiKey, baseURL: `${stack.baseUrl}/v1`, maxRetries: 0, timeout: 30_000 });
    },
    post: (body, headers = {}) =>
      fetch(`${stack.baseUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${account.token}`, ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      }),
    async restart() {
      await stack.app.close();
      Object.assign(stack, await serve());
    },
    // Chats kept for a conversation (CONVERSATION_MODE) are the only ones allowed to stay.
    settled: () =>
      waitFor(
        () => emu.stats().liveChats === stack.app.conversations.stats().kept && stack.app.chatJanitor.stats().pending === 0,
        'all upstream chats deleted but the kept ones',
      ),
    async close() {
      await stack.app.close();
      await emu.close();
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
      const text = logs.text;
      for (const s of [...secrets, account.token, account.userToken]) {
        const secret = s.includes('@') ? s.slice(s.indexOf('@') + 1) : s;
        assert.ok(!text.includes(secret), 'a token appeared in the service log');
      }
      assert.ok(!/Oasis-Token=|eyJ[\w-]{10,}\.[\w-]{10,}/.test(text), 'a cookie or access token appeared in the service log');
    },
  };
  return stack;
}

/**
 * Starts a stack before the suite's tests and, after them, waits for every upstream chat to be
 * deleted and closes it (which also checks the log for secrets). Use inside `describe`.
 */
export function suiteStack(opts: Parameters<typeof startStack>[0] = {}): Stack {
  let current: Stack | undefined;
  before(async () => {
    current = await startStack(opts);
  });
  after(async () => {
    if (!current) return;
    // Closed even when chats are left: a stack left running would keep the test process alive.
    try {
      await current.settled();
    } finally {
      await current.close();
    }
  });
  return new Proxy({} as Stack, {
    get: (_target, key) => {
      if (!current) throw new Error('the stack starts in before()');
      return Reflect.get(current, key);
    },
  });
}

/**
 * POST /v1/chat/completions that the caller aborts with `signal` (a client leaving); resolves with
 * the body text read so far, '' once aborted, and never rejects.
 */
export function postAbortable(stack: Pick<Stack, 'baseUrl' | 'token'>, body: unknown, signal: AbortSignal, token = stack.token): Promise<string> {
  return fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
    signal,
  })
    .then((r) => r.text())
    .catch(() => '');
}

/** Polls `check` until it holds (or fails after `ms`). */
export async function waitFor(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Parses an SSE body into its `data:` payloads and comment lines, checking the framing. */
export function parseSse(body: string): { data: string[]; comments: string[] } {
  const data: string[] = [];
  const comments: string[] = [];
  assert.ok(body.endsWith('\n\n'), 'SSE body ends with a blank line');
  for (const block of body.split('\n\n').slice(0, -1)) {
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) comments.push(line);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
      else assert.fail(`unexpected SSE line: ${JSON.stringify(line)}`);
    }
  }
  return { data, comments };
}

/** Joins the content deltas of a streamed completion from the SDK. */
export async function collectStream(stream: AsyncIterable<OpenAI.Chat.Completions.ChatCompletionChunk>) {
  let content = '';
  let reasoning = '';
  const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
  for await (const chunk of stream) {
    chunks.push(chunk);
    const delta = chunk.choices[0]?.delta as { content?: string | null; reasoning_content?: string } | undefined;
    content += delta?.content ?? '';
    reasoning += delta?.reasoning_content ?? '';
  }
  return { content, reasoning, chunks };
}
