import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config.js';
import { splitList } from '../accounts/credentials.js';
import { formatReport, runDoctor } from './doctor.js';

// `npm run doctor [-- --token deviceId@Oasis-Token]`: checks every upstream call once with the
// configured STEP_DIALECT / STEP_BASE_URL; exit code 0 only when none failed.

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { token: { type: 'string' } } });
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`Configuration error: ${err.message}`);
      return 2;
    }
    throw err;
  }
  const token = values.token ?? splitList(config.STEP_TOKENS)[0];
  if (!token) {
    console.error('No token: pass --token deviceId@Oasis-Token or set STEP_TOKENS.');
    return 2;
  }
  try {
    const report = await runDoctor(config, token);
    console.log(formatReport(report));
    return report.ok ? 0 : 1;
  } catch (err) {
    console.error(`doctor: ${(err as Error).message}`);
    return 2;
  }
}

process.exitCode = await main();
