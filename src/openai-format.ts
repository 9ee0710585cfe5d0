import { randomUUID } from 'node:crypto';
import type { ChatCompletion } from '../schemas/chat.js';
import type { Delta, TokenCounter } from './answer.js';

export interface CompletionMeta {
  id: string;
  created: number;
  model: string;
  promptTokens: number;
  /** Set when the upstream withheld the answer; otherwise `stop`. */
  finishReason?: 'stop' | 'content_filter';
}

export function completionMeta(model: string, promptTokens: number): CompletionMeta {
  // randomUUID draws from a cached entropy pool: no synchronous system call per completion.
  return { id: `chatcmpl-${randomUUID().replaceAll('-', '')}`, created: Math.floor(Date.now() / 1000), model, promptTokens };
}

function usage(meta: CompletionMeta, counter: TokenCounter) {
  const completion = counter.tokens;
  return { prompt_tokens: meta.promptTokens, completion_tokens: completion, total_tokens: meta.promptTokens + completion };
}

/**
 * The `data:` payloads of a streamed completion (CLIENTS.md 1–8), a batch per batch of deltas.
 * The role chunk waits for the first upstream delta, so an upstream that fails at once still gets
 * a real HTTP status.
 */
export async function* streamChunks(
  deltas: AsyncIterable<Delta[]>,
  meta: CompletionMeta,
  counter: TokenCounter,
  includeUsage: boolean,
): AsyncGenerator<string[]> {
  // Serialized once: only the delta and finish_reason change from chunk to chunk.
  const head = `{"id":${JSON.stringify(meta.id)},"object":"chat.completion.chunk","created":${meta.created},"model":${JSON.stringify(meta.model)},"choices":[{"index":0,"delta":`;
  const tail = includeUsage ? ',"usage":null}' : '}';
  const role = `${head}{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]${tail}`;
  let started = false;
  for await (const batch of deltas) {
    const out = started ? [] : [role];
    started = true;
    for (const delta of batch) out.push(`${head}${JSON.stringify(delta)},"logprobs":null,"finish_reason":null}]${tail}`);
    yield out;
  }
  const last = started ? [] : [role];
  last.push(`${head}{},"logprobs":null,"finish_reason":"${meta.finishReason ?? 'stop'}"}]${tail}`);
  if (includeUsage) {
    last.push(
      JSON.stringify({
        id: meta.id,
        object: 'chat.completion.chunk',
        created: meta.created,
        model: meta.model,
        choices: [],
        usage: usage(meta, counter),
      }),
    );
  }
  yield last;
}

/** Gathers the whole answer into one `chat.completion` object (CLIENTS.md 10). */
export async function collectCompletion(deltas: AsyncIterable<Delta[]>, meta: CompletionMeta, counter: TokenCounter): Promise<ChatCompletion> {
  let content = '';
  let reasoning = '';
  for await (const batch of deltas) {
    for (const d of batch) {
      if (d.content) content += d.content;
      if (d.reasoning_content) reasoning += d.reasoning_content;
    }
  }
  return {
    id: meta.id,
    object: 'chat.completion',
    created: meta.created,
    model: meta.model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content, ...(reasoning ? { reasoning_content: reasoning } : {}) },
        finish_reason: meta.finishReason ?? 'stop',
      },
    ],
    usage: usage(meta, counter),
  };
}
