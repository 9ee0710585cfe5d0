import type { FastifyBaseLogger } from 'fastify';
import { TokenRejectedError } from '../errors.js';
import type { TokenPool } from './token-pool.js';
import type { Credential } from '../upstream/types.js';
import type { AccountHealth, AccountHealthView } from './health.js';

export interface RecheckOptions {
  pool: TokenPool;
  health: AccountHealth;
  /** The server's pool: the accounts worth watching. */
  creds: Credential[];
  intervalMs: number;
  log: FastifyBaseLogger;
}

/**
 * Tries dead pool accounts again in the background (one fresh login each per interval), so a
 * token the operator fixed upstream, or a refusal that passed, comes back into service.
 */
export function createRechecker(opts: RecheckOptions) {
  const { pool, health, log } = opts;
  let timer: NodeJS.Timeout | undefined;
  let sweeping: Promise<void> | undefined;

  /** One fresh login now; its outcome becomes the account's health. */
  async function recheck(cred: Credential): Promise<AccountHealthView> {
    try {
      if (await pool.check(cred)) {
        if (health.state(cred.id) !== 'healthy') log.info({ account: cred.id }, 'account re-checked: back in service');
        health.revived(cred.id);
      } else {
        health.failed(cred.id, new TokenRejectedError('re-check: still rejected'));
      }
    } catch (err) {
      health.failed(cred.id, err);
    }
    return health.view(cred.id);
  }

  async function sweep(): Promise<void> {
    for (const cred of opts.creds) if (health.state(cred.id) === 'dead') await recheck(cred);
  }

  return {
    recheck,
    start(): void {
      if (timer || opts.intervalMs === 0 || opts.creds.length === 0) return;
      timer = setInterval(() => {
        sweeping ??= sweep().finally(() => (sweeping = undefined));
      }, opts.intervalMs).unref();
    },
    async stop(): Promise<void> {
      clearInterval(timer);
      timer = undefined;
      await sweeping;
    },
  };
}
