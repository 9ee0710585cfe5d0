import type { Delta } from '../openai/answer.js';
import { ClientGoneError } from '../errors.js';
import { toErrorReply } from '../error-shape.js';
import type { Usage } from '../openai/token-usage.js';
import type { Credential } from '../upstream/types.js';

/** What one completion did, as the per-completion log line and the metrics see it. */
export interface CompletionRecord {
  route: string;
  status: number;
  outcome: string;
  mode: 'stream' | 'json';
  model: string;
  durationMs: number;
  ttftMs: number | null;
  promptTokens: number;
  completionTokens: number;
  account?: string;
  chatId?: string;
  apiKey?: string;
}

type Seed = Pick<CompletionRecord, 'route' | 'mode' | 'model' | 'apiKey'>;

/**
 * Follows one completion from request to last delta: `started` is the CompletionDeps hook
 * (which account, which upstream chat), `observe` wraps the client's deltas and calls `done`
 * exactly once when they end, fail or are abandoned.
 */
export function traceCompletion(seed: Seed, done: (record: CompletionRecord) => void, now = () => performance.now()) {
  const t0 = now();
  let account: string | undefined;
  let chatId: string | undefined;
  return {
    started(cred: Credential, id: string): void {
      account = cred.id;
      chatId = id;
    },
    async *observe(deltas: AsyncIterable<Delta[]>, usage: () => Usage): AsyncGenerator<Delta[]> {
      let ttftMs: number | null = null;
      let status = 200;
      let outcome = 'ok';
      let finished = false;
      try {
        for await (const batch of deltas) {
          if (ttftMs === null && batch.length > 0) ttftMs = now() - t0;
          yield batch;
        }
        finished = true;
      } catch (err) {
        if (err instanceof ClientGoneError) [status, outcome] = [499, 'client_gone'];
        else {
          const reply = toErrorReply(err as Error);
          outcome = reply.body.error.code ?? 'error';
          // A stream that has started stays a 200 with the error inside it.
          if (!(seed.mode === 'stream' && ttftMs !== null)) status = reply.status;
        }
        throw err;
      } finally {
        // Ended by the consumer (client left) without an error of ours.
        if (outcome === 'ok' && !finished) [status, outcome] = [499, 'client_gone'];
        done({ ...seed, status, outcome, durationMs: Math.round(now() - t0), ttftMs: ttftMs === null ? null : Math.round(ttftMs), ...tokens(usage), account, chatId });
      }
    },
  };
}

/** The counts of a finished (or abandoned) completion; none when they cannot be read any more. */
function tokens(usage: () => Usage): Pick<CompletionRecord, 'promptTokens' | 'completionTokens'> {
  try {
    const u = usage();
    return { promptTokens: u.prompt_tokens, completionTokens: u.completion_tokens };
  } catch {
    return { promptTokens: 0, completionTokens: 0 };
  }
}
