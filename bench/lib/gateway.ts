import type { Dispatcher } from 'undici';

// One chat completion against the gateway, over undici directly: autocannon cannot see when the
// first content delta arrives, and the soak needs the exact text received.

/** How a completion through the gateway went. */
export interface GatewayResult {
  status: number;
  /** Request start to the first SSE chunk with non-empty `delta.content`; -1 if none came. */
  ttftMs: number;
  /** The content received (always for non-stream; for stream only with `collect`). */
  text: string;
  /** `reasoning_content` received, likewise. */
  reasoning: string;
  /** Stream ended with `data: [DONE]` and no error event / non-stream answered 200. */
  done: boolean;
  /** The OpenAI error code (HTTP error body or in-stream error event). */
  errorCode?: string;
  /** We cut the stream ourselves (`abortAfterFirst`). */
  aborted: boolean;
}

export interface CallOptions {
  /** Parse every chunk and join the content (soak); otherwise only up to the first content. */
  collect?: boolean;
  /** Drop the connection right after the first content delta (a client that leaves). */
  abortAfterFirst?: boolean;
}

interface Chunk {
  choices?: { delta?: { content?: string | null; reasoning_content?: string | null } }[];
  error?: { code?: string; type?: string };
}

function errorCode(body: unknown): string {
  const e = (body as { error?: { code?: unknown; type?: unknown } } | undefined)?.error;
  return String(e?.code ?? e?.type ?? 'unknown');
}

/** POSTs /v1/chat/completions and reads the answer, streamed or not. */
export async function callGateway(
  dispatcher: Dispatcher,
  origin: string,
  token: string,
  body: { messages: unknown[]; stream: boolean; model: string; reasoning_effort?: string; [field: string]: unknown },
  started: number,
  opts: CallOptions = {},
): Promise<GatewayResult> {
  const res = await dispatcher.request({
    origin,
    path: '/v1/chat/completions',
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  const result: GatewayResult = { status: res.statusCode, ttftMs: -1, text: '', reasoning: '', done: false, aborted: false };
  if (!body.stream || res.statusCode !== 200) {
    const json = (await res.body.json()) as { choices?: { message?: { content?: string; reasoning_content?: string } }[] };
    if (res.statusCode !== 200) return { ...result, errorCode: errorCode(json) };
    result.text = json.choices?.[0]?.message?.content ?? '';
    result.reasoning = json.choices?.[0]?.message?.reasoning_content ?? '';
    result.ttftMs = performance.now() - started;
    result.done = true;
    return result;
  }
  res.body.setEncoding('utf8');
  let buf = '';
  let parsing = true;
  let tail = '';
  for await (const piece of res.body as AsyncIterable<string>) {
    if (!parsing) {
      // Past the first content in bench mode: only watch for an error event and the final [DONE].
      if (piece.includes('"error":{')) result.errorCode ??= 'error_event';
      tail = (tail + piece).slice(-32);
      continue;
    }
    buf += piece;
    let cut: number;
    while ((cut = buf.indexOf('\n\n')) !== -1) {
      const event = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      if (!event.startsWith('data: ')) continue;
      const data = event.slice(6);
      if (data === '[DONE]') {
        result.done = result.errorCode === undefined;
        continue;
      }
      const chunk = JSON.parse(data) as Chunk;
      if (chunk.error) {
        result.errorCode = errorCode(chunk);
        continue;
      }
      const delta = chunk.choices?.[0]?.delta;
      if (delta?.reasoning_content) result.reasoning += delta.reasoning_content;
      const content = delta?.content;
      if (!content) continue;
      result.text += content;
      if (result.ttftMs < 0) {
        result.ttftMs = performance.now() - started;
        if (opts.abortAfterFirst) {
          result.aborted = true;
          res.body.destroy();
          return result;
        }
        if (!opts.collect) parsing = false;
      }
    }
    if (!parsing) {
      tail = buf.slice(-32);
      buf = '';
    }
  }
  if (!result.done && !parsing) result.done = result.errorCode === undefined && tail.endsWith('data: [DONE]\n\n');
  return result;
}
