import { startEmulator } from './index.js';

// Runs the emulator as its own process for benchmarks and soak runs:
//   EMULATOR_PORT=8001 npx tsx test/emulator/cli.ts
// EMULATOR_DIALECT=capy serves the current upstream instead of the legacy yuewen one.
// prints {"url","token"} on one line, then serves until SIGINT/SIGTERM.
// Further tuning goes through the control API (POST /__emulator/config …).

const port = Number(process.env.EMULATOR_PORT ?? 8001);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`EMULATOR_PORT must be a TCP port, got ${process.env.EMULATOR_PORT}`);
  process.exit(1);
}

const dialect = process.env.EMULATOR_DIALECT ?? 'yuewen';
if (dialect !== 'yuewen' && dialect !== 'capy') {
  console.error(`EMULATOR_DIALECT must be yuewen or capy, got ${dialect}`);
  process.exit(1);
}

const emulator = await startEmulator({ port, dialect });
const { token } = emulator.addAccount('demo-device', 'demo-token');
process.stdout.write(`${JSON.stringify({ url: emulator.url, token })}\n`);

let closing = false;
async function shutdown(): Promise<void> {
  if (closing) return;
  closing = true;
  await emulator.close();
  process.exit(0);
}
process.on('SIGINT', () => void shutdown());
process.on('SIGTERM', () => void shutdown());
