import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { startEmulator } from './emulator/index.js';

// `npm run demo`: the service on :8000 (PORT) wired to the StepChat emulator on :8001
// (EMULATOR_PORT), so every endpoint can be tried offline with curl or any OpenAI client.

const emulator = await startEmulator({ port: Number(process.env.EMULATOR_PORT ?? 8001), frameDelayMs: 30 });
const { token } = emulator.addAccount('demo-device', 'demo-token');
const config = loadConfig({ ...process.env, STEP_BASE_URL: emulator.url, ATTACHMENT_ALLOW_HOSTS: '127.0.0.1,localhost' });
const app = await buildApp(config, { demoToken: token });
await app.listen({ port: config.PORT, host: config.HOST });
const base = `http://127.0.0.1:${config.PORT}`;

console.log(`
StepChat emulator: ${emulator.url}   gateway: ${base}
Demo token (Authorization: Bearer …): ${token}

  curl -N ${base}/v1/chat/completions -H 'Authorization: Bearer ${token}' \\
    -H 'Content-Type: application/json' \\
    -d '{"model":"step","stream":true,"messages":[{"role":"user","content":"你好 #search"}]}'

  curl ${base}/v1/models
  curl ${base}/token/check -H 'Content-Type: application/json' -d '{"token":"${token}"}'

Prompt directives the emulator understands: #search, #fault:error-event, #fault:reset,
#fault:stall, #fault:slow, #len:N, #delay:MS. Ctrl-C stops both.
`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void app.close().then(() => emulator.close()).then(() => process.exit(0));
  });
}
