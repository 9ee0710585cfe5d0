// @dialect capy
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { loadConfig } from '../src/config.js';
import { DOCUMENTED } from '../plugins/openapi.js';
import { answerFor } from './emulator/index.js';
import { startStack, suiteStack, waitFor } from './helpers.js';

const metricValue = (text: string, series: string): number => {
  const line = text.split('\n').find((l) => l.startsWith(series + ' ') || l.startsWith(series + '{') && l.split(' ')[0] === series);
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
};
const scrape = async (baseUrl: string, headers: Record<string, string> = {}) => (await fetch(`${baseUrl}/metrics`, { headers })).text();

describe('health probes', () => {
  const s = suiteStack();

  test('GET /healthz answers 200 while the process runs', async () => {
    const res = await fetch(`${s.baseUrl}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok' });
  });

  test('GET /readyz answers 200, and 503 once the service is marked draining', async () => {
    assert.equal((await fetch(`${s.baseUrl}/readyz`)).status, 200);
    s.app.draining = true;
    try {
      const res = await fetch(`${s.baseUrl}/readyz`);
      assert.equal(res.status, 503);
      assert.equal(((await res.json()) as { reason: string }).reason, 'draining');
    } finally {
      s.app.draining = false;
    }
  });
});

describe('readiness with a server pool', () => {
  test('GET /readyz is 200 with a live STEP_TOKENS account and 503 when every one is rejected', async () => {
    const live = await startStack({ config: (emu) => ({ STEP_TOKENS: emu.addAccount('ready-dev', 'ready-token').token, API_KEYS: 'k1' }) });
    try {
      assert.equal((await fetch(`${live.baseUrl}/readyz`)).status, 200);
    } finally {
      await live.close();
    }
    const dead = await startStack({ config: { STEP_TOKENS: 'nodev@not-a-known-token', API_KEYS: 'k1' } });
    try {
      const res = await fetch(`${dead.baseUrl}/readyz`);
      assert.equal(res.status, 503);
      assert.match(((await res.json()) as { reason: string }).reason, /no usable StepChat account/);
    } finally {
      await dead.close();
    }
  });
});

describe('metrics', () => {
  const s = suiteStack({ config: { METRICS_KEY: 'metrics-secret' } });
  const auth = { authorization: 'Bearer metrics-secret' };

  test('GET /metrics without the METRICS_KEY is 401 in the OpenAI error shape', async () => {
    const res = await fetch(`${s.baseUrl}/metrics`);
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'invalid_metrics_key');
  });

  test('the series move after a streamed and a non-streamed completion', async () => {
    const before = await scrape(s.baseUrl, auth);
    assert.match(before, /^# TYPE step_gateway_process_cpu_user_seconds_total counter$/m, 'default process metrics');
    for (const name of ['tool_calls_total', 'accounts', 'active_streams', 'upstream_chats_pending_deletion']) assert.match(before, new RegExp(`^# TYPE step_gateway_${name} `, 'm'));
    const created0 = metricValue(before, 'step_gateway_upstream_chats_created_total');

    const stream = await s.client().chat.completions.create({ model: 'step', stream: true, messages: [{ role: 'user', content: 'metrics stream' }] });
    for await (const chunk of stream) void chunk;
    await s.client().chat.completions.create({ model: 'step', messages: [{ role: 'user', content: 'metrics json' }] });
    await s.settled();

    const after = await scrape(s.baseUrl, auth);
    assert.equal(metricValue(after, 'step_gateway_upstream_chats_created_total'), created0 + 2);
    assert.equal(metricValue(after, 'step_gateway_upstream_chats_deleted_total'), metricValue(before, 'step_gateway_upstream_chats_deleted_total') + 2);
    assert.equal(metricValue(after, 'step_gateway_active_streams'), 0);
    assert.equal(metricValue(after, 'step_gateway_upstream_chats_pending_deletion'), 0);
    assert.match(after, /step_gateway_http_requests_total\{method="POST",route="\/v1\/chat\/completions",status="200"\} 2/);
    assert.match(after, /step_gateway_upstream_calls_total\{call="createChat",outcome="ok"\} \d+/);
    for (const mode of ['stream', 'json']) {
      assert.match(after, new RegExp(`step_gateway_completion_duration_seconds_count\\{mode="${mode}",model="[^"]+",outcome="ok"\\} 1`));
      assert.match(after, new RegExp(`step_gateway_completion_time_to_first_token_seconds_count\\{mode="${mode}",model="[^"]+"\\} 1`));
    }
    assert.ok(/step_gateway_tokens_total\{kind="completion",model="[^"]+"\} [1-9]/.test(after), 'completion tokens counted');
    assert.ok(!after.includes(s.token.split('@')[1]!), 'no token in the metrics');
  });

  test('each completion writes one JSON log line with its facts, no secrets', async () => {
    const before = s.logs.lines.length;
    await s.client().chat.completions.create({ model: 'step', messages: [{ role: 'user', content: 'log line please' }] });
    await waitFor(() => s.logs.lines.slice(before).some((l) => l.includes('"msg":"completion"')), 'completion log line');
    const lines = s.logs.lines.slice(before).map((l) => JSON.parse(l)).filter((l) => l.msg === 'completion');
    assert.equal(lines.length, 1);
    const line = lines[0];
    assert.equal(line.route, '/v1/chat/completions');
    assert.equal(line.status, 200);
    assert.equal(line.mode, 'json');
    assert.equal(typeof line.model, 'string');
    assert.equal(typeof line.durationMs, 'number');
    assert.equal(typeof line.ttftMs, 'number');
    assert.ok(line.promptTokens > 0 && line.completionTokens > 0);
    assert.match(line.account, /^[\w-]{10}$/, 'masked account fingerprint');
    assert.ok(s.emu.messages.some((m) => m.chatId === line.chatId), 'the upstream chat id');
  });

  test('a failed completion logs its error status and code', async () => {
    const before = s.logs.lines.length;
    const res = await s.post({ model: 'step', messages: [{ role: 'user', content: 'fail #fault:401' }] });
    assert.equal(res.status, 401);
    const line = s.logs.lines.slice(before).map((l) => JSON.parse(l)).find((l) => l.msg === 'completion');
    assert.equal(line.status, 401);
    assert.notEqual(line.outcome, 'ok');
  });
});

describe('OpenAPI and docs', () => {
  const s = suiteStack();

  test('GET /openapi.json is an OpenAPI 3 document describing every route with a summary, and the bodies with an example', async () => {
    const res = await fetch(`${s.baseUrl}/openapi.json`);
    assert.equal(res.status, 200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, any>> };
    assert.match(doc.openapi, /^3\./);
    const operations = Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, op })));
    assert.deepEqual(operations.map((o) => o.key).sort(), [...DOCUMENTED].sort());
    for (const { key, op } of operations) {
      assert.ok(op.summary && op.description, `${key} described`);
      assert.ok(op.responses?.['200'], `${key} has its 200 response`);
      if (op.requestBody) {
        const media = op.requestBody.content['application/json'];
        assert.ok(media.example ?? media.examples ?? media.schema.examples, `${key} has an example body`);
      }
    }
  });

  test('GET /docs serves the interactive reference', async () => {
    const res = await fetch(`${s.baseUrl}/docs`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /swagger-ui/i);
  });
});

describe('load shedding', () => {
  const s = suiteStack({ config: { PRESSURE_MAX_EVENT_LOOP_DELAY_MS: 50, PRESSURE_SAMPLE_INTERVAL_MS: 1000, PRESSURE_RETRY_AFTER_S: 7 } });

  test('a saturated event loop sheds requests with 503 and Retry-After, while /healthz still answers', async () => {
    assert.equal((await fetch(`${s.baseUrl}/v1/models`)).status, 200);
    const until = Date.now() + 1500;
    while (Date.now() < until); // the service shares this loop: block it
    await new Promise((r) => setTimeout(r, 20)); // let the overdue sample see it
    const [shed, alive] = await Promise.all([s.post({ model: 'step', messages: [{ role: 'user', content: 'hi' }] }), fetch(`${s.baseUrl}/healthz`)]);
    assert.equal(shed.status, 503);
    assert.equal(shed.headers.get('retry-after'), '7');
    assert.equal(shed.headers.get('x-should-retry'), null, 'a retry later can work');
    assert.equal(((await shed.json()) as { error: { code: string } }).error.code, 'overloaded');
    assert.equal(alive.status, 200);
  });
});

describe('long non-stream answers (NONSTREAM_KEEPALIVE_MS)', () => {
  const s = suiteStack({ config: { NONSTREAM_KEEPALIVE_MS: 200, SSE_KEEPALIVE_MS: 100 } });

  test('a slow answer gets its 200 early, whitespace while waiting, then the JSON the SDK parses', async () => {
    const res = await s.post({ model: 'step', messages: [{ role: 'user', content: 'slow one #slow:1200' }] });
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /^ {2,}\{/, 'spaces before the JSON');
    const body = JSON.parse(text) as { choices: Array<{ message: { content: string } }> };
    assert.equal(body.choices[0]!.message.content, answerFor('slow one #slow:1200').join(''));
    const viaSdk = await s.client().chat.completions.create({ model: 'step', messages: [{ role: 'user', content: 'slow sdk #slow:600' }] });
    assert.equal(viaSdk.choices[0]!.message.content, answerFor('slow sdk #slow:600').join(''));
  });

  test('a failure after the early 200 is the error body, and a fast answer is unchanged', async () => {
    const late = await s.post({ model: 'step', messages: [{ role: 'user', content: 'slow fail #slow:600 #fault:error-trailer' }] });
    assert.equal(late.status, 200);
    const body = JSON.parse(await late.text()) as { error?: { message: string } };
    assert.ok(body.error?.message);
    const fast = await s.post({ model: 'step', messages: [{ role: 'user', content: 'fast' }] });
    assert.equal(fast.status, 200);
    const fastText = await fast.text();
    assert.match(fastText, /^\{/);
    assert.equal((JSON.parse(fastText) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content, answerFor('fast').join(''));
  });
});

describe('config errors', () => {
  const bad = (env: Record<string, string>) => {
    try {
      loadConfig(env);
    } catch (err) {
      return (err as Error).message;
    }
    return 'accepted';
  };

  test('an enum variable names itself and the allowed values', () => {
    assert.equal(bad({ STEP_DIALECT: 'web' }), 'invalid STEP_DIALECT="web": must be one of capy, yuewen');
    assert.match(bad({ LOG_LEVEL: 'loud' }), /^invalid LOG_LEVEL="loud": must be one of fatal, error, warn, info, debug, trace, silent$/);
  });

  test('a bad STEP_BASE_URL is refused with its name', () => {
    assert.match(bad({ STEP_BASE_URL: 'www.stepfun.com' }), /^invalid STEP_BASE_URL="www.stepfun.com": must be an absolute URL/);
    assert.match(bad({ STEP_BASE_URL: 'ftp://x.example' }), /^invalid STEP_BASE_URL="ftp:\/\/x.example": must be an http/);
  });

  test('the server exits with one line and no stack trace on a bad variable', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/server.ts'], { env: { ...process.env, STEP_BASE_URL: 'not a url', PORT: '0' }, encoding: 'utf8', timeout: 30_000 });
    assert.equal(run.status, 1);
    assert.equal(run.stderr.trim(), 'Configuration error: invalid STEP_BASE_URL="not a url": must be an absolute URL such as https://www.stepfun.com');
  });
});
