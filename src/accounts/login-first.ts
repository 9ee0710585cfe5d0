import { NoUsableTokenError, TokenRejectedError } from '../errors.js';
import type { TokenPool } from './token-pool.js';
import type { Credential } from '../upstream/types.js';

/**
 * No work before authentication: logs in the first account that StepChat accepts (or finds its
 * cached session) before the request's attachments are fetched, so a made-up `x@y` token costs
 * one login and a 401, never a download. The session stays cached for the completion.
 */
export async function loginFirst(pool: TokenPool, creds: Credential[], pooled: boolean): Promise<void> {
  let rejected: unknown;
  for (const cred of pool.candidates(creds)) {
    try {
      await pool.session(cred);
      return;
    } catch (err) {
      if (!(err instanceof TokenRejectedError)) throw err;
      rejected = err;
    }
  }
  if (pooled) throw new NoUsableTokenError('every configured StepChat account was rejected');
  throw rejected;
}
