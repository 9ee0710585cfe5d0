import { readFileSync } from 'node:fs';

// Self time of a CPU profile by stage of a completion: each sample goes to the innermost frame of
// the service or a package that a rule below names (node internals and native code, socket writes
// included, count for whoever called them); a sample with no such frame goes to the response
// writes when node's HTTP response code is on its stack (SSE for a stream, HTTP for JSON), to HTTP
// when node's HTTP server is, else GC or node internals (microtask and tick machinery).

interface Node {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

/** Stage names in the order they are printed. */
export const STAGES = ['HTTP in/out', 'validation', 'auth', 'upstream client', 'decoding', 'translation', 'tokenizer', 'SSE', 'logging', 'metrics', 'GC', 'node internals'] as const;
export type Stage = (typeof STAGES)[number];

const RULES: [RegExp, Stage][] = [
  [/gpt-tokenizer|\/dist\/src\/openai\/(token-usage|o200k-encoding)\.js/, 'tokenizer'],
  [/node_modules\/(pino|sonic-boom|fast-redact|@pinojs|thread-stream)|\/dist\/src\/(logger|scrub)\.js/, 'logging'],
  [/node_modules\/prom-client|\/dist\/(src\/metrics|plugins\/metrics|plugins\/completion-trace|src\/completion-trace)\.js/, 'metrics'],
  [/node_modules\/(fastify-sse-v2|it-to-stream|it-pushable|p-defer|fast-fifo)|\/dist\/(plugins\/sse-reply|src\/openai-format|plugins\/json-keepalive)\.js/, 'SSE'],
  [/\/dist\/src\/(connect-codec|upstream\/envelope-feed|upstream\/events|upstream\/capy|upstream\/yuewen|upstream\/drift)\.js/, 'decoding'],
  [/node_modules\/undici|\/dist\/src\/(upstream\/|token-pool|accounts\/|chat-janitor|shared-state\/)/, 'upstream client'],
  [/\/dist\/(src\/auth|plugins\/auth|src\/credentials|src\/credential-store)\.js/, 'auth'],
  [/node_modules\/(ajv|@sinclair|secure-json-parse|fast-json-stringify|@fastify\/ajv-compiler|@fastify\/fast-json-stringify-compiler|fast-uri)|\/dist\/schemas\//, 'validation'],
  [/\/dist\/src\/(answer|citations|delta-stages|stop-sequences|chat|completion|prompt|conversations|models|tools\/)/, 'translation'],
  [/node_modules\/(fastify|@fastify|find-my-way|avvio|light-my-request|proxy-addr|forwarded)|\/dist\/(routes|plugins|src)\//, 'HTTP in/out'],
];

function stageOf(url: string): Stage | undefined {
  if (!url || url.startsWith('node:')) return undefined;
  for (const [re, stage] of RULES) if (re.test(url)) return stage;
  return undefined;
}

/** Self time (ms) and share per stage inside `windowUs` (monotonic µs). */
export function stageBreakdown(file: string, windowUs?: [number, number], stream = false): { stage: Stage; ms: number; pct: number }[] {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number };
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const memo = new Map<number, Stage | 'idle'>();
  const classify = (id: number): Stage | 'idle' => {
    const hit = memo.get(id);
    if (hit) return hit;
    const leaf = byId.get(id)!.callFrame.functionName;
    let stage: Stage | 'idle' | undefined = leaf === '(idle)' ? 'idle' : leaf === '(garbage collector)' ? 'GC' : undefined;
    let http = false;
    let out = false;
    for (let p: number | undefined = id; stage === undefined && p !== undefined; p = parent.get(p)) {
      const url = byId.get(p)!.callFrame.url;
      stage = stageOf(url);
      if (/^node:_http_(server|incoming|common)/.test(url)) http = true;
      if (url === 'node:_http_outgoing') out = true;
    }
    stage ??= out && stream ? 'SSE' : out || http ? 'HTTP in/out' : 'node internals';
    memo.set(id, stage);
    return stage;
  };
  const us = new Map<Stage, number>();
  let t = prof.startTime;
  prof.samples.forEach((id, i) => {
    const dt = prof.timeDeltas[i] ?? 0;
    t += dt;
    if (windowUs && (t < windowUs[0] || t > windowUs[1])) return;
    const s = classify(id);
    if (s !== 'idle') us.set(s, (us.get(s) ?? 0) + dt);
  });
  const total = [...us.values()].reduce((a, b) => a + b, 0);
  return STAGES.map((stage) => ({ stage, ms: Math.round((us.get(stage) ?? 0) / 1000), pct: Number((((us.get(stage) ?? 0) / total) * 100).toFixed(1)) }));
}
