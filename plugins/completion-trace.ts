import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { CompletionPlan } from '../src/openai/chat.js';
import { traceCompletion } from '../src/ops/completion-trace.js';
import { fingerprint } from '../src/accounts/credentials.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Follows one completion: one JSON log line and the completion metrics when it ends. */
    traceCompletion(request: FastifyRequest, plan: CompletionPlan, pooled: boolean): ReturnType<typeof traceCompletion>;
  }
}

export default fp(
  async (app) => {
    const m = app.metrics;
    // The completion line is a CompletionRecord: fixed fields that hold no secret (the account's
    // id, an API key's fingerprint), none of them a redacted path. Redaction's wildcard paths were
    // two thirds of the line's cost (≈ 7 of 10 µs), paid once per completion for nothing.
    const records = app.log.child({}, { redact: { paths: [] } });
    app.decorate('traceCompletion', (request: FastifyRequest, plan: CompletionPlan, pooled: boolean) => {
      const mode = plan.stream ? 'stream' : 'json';
      const model = plan.message.model;
      // The key itself is a secret: a fingerprint tells the keys apart in logs.
      const bearer = request.headers.authorization?.replace(/^Bearer\s+/i, '');
      const apiKey = pooled && bearer ? `key-${fingerprint(bearer)}` : undefined;
      if (plan.stream) m.activeStreams.inc();
      return traceCompletion({ route: request.routeOptions.url ?? request.url, mode, model, apiKey }, (record) => {
        if (plan.stream) m.activeStreams.dec();
        m.completionDuration.observe({ mode, model, outcome: record.outcome }, record.durationMs / 1000);
        if (record.ttftMs !== null) m.timeToFirstToken.observe({ mode, model }, record.ttftMs / 1000);
        m.tokens.inc({ kind: 'prompt', model }, record.promptTokens);
        m.tokens.inc({ kind: 'completion', model }, record.completionTokens);
        if (request.apiKeyName) app.keyStats.tokens(request.apiKeyName, record.promptTokens, record.completionTokens);
        records.info({ reqId: request.id, ...record }, 'completion');
      });
    });
  },
  { name: 'completion-trace', dependencies: ['metrics', 'token-pool', 'auth'] },
);
