import { randomUUID } from 'node:crypto';
import type { ChatCompletion } from '../../schemas/chat.js';
import type { Delta } from './answer.js';
import type { Outcome } from './delta-stages.js';
import type { Usage } from './token-usage.js';

export interface CompletionMeta {
  id: string;
  created: number;
  model: string;
}

/** What the answer's stages decided, read once the deltas are exhausted. */
export interface CompletionResult {
  outcome: Outcome;
  usage(): Usage;
}

export function completionMeta(model: string): CompletionMeta {
  // randomUUID draws from a cached entropy pool: no synchronous system call per completion.
  return { id: `chatcmpl-${randomUUID().replaceAll('-', '')}`, created: Math.floor(Date.now() / 1000), model };
}

/** A started completion: its client deltas and what is read once they are exhausted. */
export interface StartedCompletion {
  deltas: AsyncIterable<Delta[]>;
  meta: CompletionMeta;
  result: CompletionResult;
}

/**
 * The `data:` payloads of a streamed completion (CLIENTS.md 1–8), a batch per batch of deltas.
 * `start` runs on the first pull (not in a generator of its own around this one: each layer costs
 * promises per batch). The role chunk waits for the first upstream delta, so an upstream that
 * fails at once still gets a real HTTP status.
 */
export async function* streamChunks(start: () => Promise<StartedCompletion>, includeUsage: boolean): AsyncGenerator<string[]> {
  const { deltas, meta, result } = await start();
  // Serialized once: only the delta and finish_reason change from chunk to chunk.
  const head = `{"id":${JSON.stringify(meta.id)},"object":"chat.completion.chunk","created":${meta.created},"model":${JSON.stringify(meta.model)},"choices":[{"index":0,"delta":`;
  const tail = includeUsage ? ',"usage":null}' : '}';
  const role = `${head}{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]${tail}`;
  const chunk = (delta: string): string => `${head}${delta},"logprobs":null,"finish_reason":null}]${tail}`;
  let started = false;
  for await (const batch of deltas) {
    const out = started ? [] : [role];
    started = true;
    // What arrived together goes out together: consecutive plain text deltas of one batch (one
    // upstream read) become one chunk, so a batch is mostly one SSE event. Reasoning stays apart
    // from content, and anything else (tool calls) keeps its own chunk.
    let field: 'content' | 'reasoning_content' | undefined;
    let text = '';
    const flush = (): void => {
      if (field) out.push(chunk(`{"${field}":${JSON.stringify(text)}}`));
      field = undefined;
      text = '';
    };
    for (const delta of batch) {
      const plain = plainField(delta);
      if (plain && plain === field) {
        text += delta[plain];
        continue;
      }
      flush();
      if (plain) {
        field = plain;
        text = delta[plain]!;
      } else out.push(chunk(JSON.stringify(delta)));
    }
    flush();
    yield out;
  }
  const last = started ? [] : [role];
  last.push(`${head}{},"logprobs":null,"finish_reason":${JSON.stringify(result.outcome.finishReason)}}]${tail}`);
  if (includeUsage) {
    last.push(
      JSON.stringify({
        id: meta.id,
        object: 'chat.completion.chunk',
        created: meta.created,
        model: meta.model,
        choices: [],
        usage: result.usage(),
      }),
    );
  }
  yield last;
}

/** The one text field of a delta that carries nothing else, if it is such a delta. */
function plainField(delta: Delta): 'content' | 'reasoning_content' | undefined {
  let field: 'content' | 'reasoning_content' | undefined;
  for (const key in delta) {
    if (field || (key !== 'content' && key !== 'reasoning_content') || typeof delta[key] !== 'string') return undefined;
    field = key;
  }
  return field;
}

/** Gathers the whole answer into one `chat.completion` object (CLIENTS.md 10). */
export async function collectCompletion(deltas: AsyncIterable<Delta[]>, meta: CompletionMeta, result: CompletionResult): Promise<ChatCompletion> {
  let content = '';
  let reasoning = '';
  const calls: { id: string; type: 'function'; function: { name: string; arguments: string } }[] = [];
  let functionCall: { name: string; arguments: string } | undefined;
  for await (const batch of deltas) {
    for (const d of batch) {
      if (d.content) content += d.content;
      if (d.reasoning_content) reasoning += d.reasoning_content;
      for (const c of d.tool_calls ?? []) {
        const call = (calls[c.index] ??= { id: c.id ?? '', type: 'function', function: { name: '', arguments: '' } });
        if (c.function.name) call.function.name = c.function.name;
        call.function.arguments += c.function.arguments;
      }
      if (d.function_call) {
        functionCall ??= { name: '', arguments: '' };
        if (d.function_call.name) functionCall.name = d.function_call.name;
        functionCall.arguments += d.function_call.arguments;
      }
    }
  }
  const called = calls.length > 0 || functionCall !== undefined;
  return {
    id: meta.id,
    object: 'chat.completion',
    created: meta.created,
    model: meta.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          // With calls and no prose, content is null as OpenAI sends it.
          content: called && content.trim() === '' ? null : content,
          ...(reasoning ? { reasoning_content: reasoning } : {}),
          ...(calls.length > 0 ? { tool_calls: calls } : {}),
          ...(functionCall ? { function_call: functionCall } : {}),
        },
        finish_reason: result.outcome.finishReason,
      },
    ],
    usage: result.usage(),
  };
}
