import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { startEmulator } from './emulator/index.js';

// `npm run demo`: the service on :8000 (PORT) wired to the StepChat emulator on :8001
// (EMULATOR_PORT) in the dialect the service speaks (STEP_DIALECT, default capy), so every
// endpoint and every curl example of the README can be tried offline. Answers are synthetic.
// The credentials live in a fresh temporary DATA_DIR: the emulator starts anew each run, and a
// refresh token rotated by an earlier run would be unknown to it.

const dataDir = mkdtempSync(join(tmpdir(), 'step-gateway-demo-'));
const env = { ...process.env, ATTACHMENT_ALLOW_HOSTS: '127.0.0.1,localhost', DATA_DIR: dataDir };
const dialect = loadConfig(env).STEP_DIALECT;
const emulator = await startEmulator({ dialect, port: Number(process.env.EMULATOR_PORT ?? 8001), frameDelayMs: 30 });
const { token } = emulator.addAccount('demo-device', 'demo-token');
// The doctor refreshes (and so rotates) its account: one of its own keeps the demo token alive.
const doctor = emulator.addAccount('doctor-device', 'doctor-token').token;
const config = loadConfig({ ...env, STEP_BASE_URL: emulator.url });
const app = await buildApp(config, { demoToken: token });
await app.listen({ port: config.PORT, host: config.HOST });
const base = `http://localhost:${(app.server.address() as AddressInfo).port}`;
const files = `http://localhost:${new URL(emulator.url).port}/files`;

console.log(`
StepChat emulator (${dialect} dialect): ${emulator.url}   gateway: ${base}
Every answer is synthetic: the emulator makes it up from your prompt, no StepChat account is used.

  export STEP_TOKEN='${token}'

Chat, streamed:
  curl -N ${base}/v1/chat/completions -H "Authorization: Bearer $STEP_TOKEN" \\
    -H "Content-Type: application/json" \\
    -d '{"model":"step","stream":true,"messages":[{"role":"user","content":"你好 #search"}]}'
Chat, one JSON answer:
  curl ${base}/v1/chat/completions -H "Authorization: Bearer $STEP_TOKEN" \\
    -H "Content-Type: application/json" -d '{"model":"step","messages":[{"role":"user","content":"你是谁?"}]}'
Chat with a document (a file the demo serves):
  curl ${base}/v1/chat/completions -H "Authorization: Bearer $STEP_TOKEN" -H "Content-Type: application/json" \\
    -d '{"model":"step","messages":[{"role":"user","content":[{"type":"file","file_url":{"url":"${files}/report.pdf"}},{"type":"text","text":"What does it say?"}]}]}'
Models:        curl ${base}/v1/models -H "Authorization: Bearer $STEP_TOKEN"
Token check:   curl ${base}/token/check -H "Content-Type: application/json" -d '{"token":"'"$STEP_TOKEN"'"}'
Health:        curl ${base}/healthz
Metrics:       curl ${base}/metrics
Playground:    ${base}/          API reference: ${base}/docs
Self-check:    STEP_DIALECT=${dialect} STEP_BASE_URL=${emulator.url} DATA_DIR=$(mktemp -d) npm run doctor -- --token ${doctor}

Prompt directives the emulator understands: #search, #sourcing, #drift, #fault:error-event,
#fault:reset, #fault:stall, #fault:slow, #fault:risk, #len:N, #delay:MS. Ctrl-C stops both.
`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void app
      .close()
      .then(() => emulator.close())
      .finally(() => {
        rmSync(dataDir, { recursive: true, force: true });
        process.exit(0);
      });
  });
}
