import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ChatCompletionRequestSchema, ChatCompletionSchema } from '../schemas/chat.js';
import { ErrorResponses } from '../schemas/error.js';
import { latestUserAttachments } from '../src/attachments/uploader.js';
import { planCompletion, startCompletion } from '../src/openai/chat.js';
import { responseSignals } from '../src/openai/client-abort.js';
import { callerKey, NO_CONVERSATION } from '../src/openai/conversations.js';
import { endOnShutdown } from '../src/ops/drain.js';
import { ShuttingDownError } from '../src/errors.js';
import { loginFirst } from '../src/accounts/login-first.js';
import { collectCompletion, streamChunks } from '../src/openai/openai-format.js';

/** POST /v1/chat/completions, streaming (SSE) or not, as the body's `stream` says. */
const chatCompletions: FastifyPluginAsyncTypebox = async (app) => {
  const deps = {
    pool: app.tokenPool,
    scheduler: app.scheduler,
    health: app.accountHealth,
    failoverAttempts: app.config.FAILOVER_ATTEMPTS,
    dialect: app.upstream.dialect,
    discardChat: app.chatJanitor.discardChat,
    trackChat: app.chatJanitor.track,
    onAccountFailed: app.conversations.forgetAccount,
    reasoningOutput: app.config.REASONING_OUTPUT,
  };
  const planOptions = { models: app.modelCatalog, searchDefault: app.config.SEARCH_DEFAULT };
  const signalFor = responseSignals(app.shutdownSignal);

  app.post(
    '/v1/chat/completions',
    {
      schema: { body: ChatCompletionRequestSchema, response: { 200: ChatCompletionSchema, ...ErrorResponses } },
      preHandler: app.authenticate,
    },
    async (request, reply) => {
      const plan = planCompletion(request.body, { ...planOptions, log: request.log });
      const pooled = request.credentials === app.serverAccounts.tokens;
      const withFiles = latestUserAttachments(request.body.messages).length > 0;
      const turn = plan.fresh
        ? NO_CONVERSATION
        : await app.conversations.begin({
            caller: callerKey(request.headers.authorization),
            messages: request.body.messages,
            conversationId: request.body.conversation_id ?? request.headers['x-conversation-id']?.toString(),
            creds: request.credentials,
            completionId: plan.meta.id,
            inline: request.inlineFiles ?? undefined,
          });
      // Whatever happens to the request, a chat it took out of keeping goes back or goes away.
      reply.raw.once('close', () => turn.finish(undefined));
      // Upstream work stops when the client leaves, or when the shutdown grace is over.
      const signal = signalFor(reply.raw);
      // Queued here, while the status can still say 429 or 503: a stream's 200 would leave first otherwise.
      const initial = await app.scheduler.acquire(request.credentials, { pooled, signal }).catch((err: unknown) => {
        throw app.shutdownSignal.aborted ? new ShuttingDownError() : err;
      });
      if (!initial) throw app.scheduler.noneUsable(request.credentials);
      // A completion whose stream never starts must not keep the account (release is idempotent).
      reply.raw.once('close', initial.release);

      // Runs inside the reply helpers, so while the account logs in and files are fetched a stream
      // gets its keep-alive comments (and a slow non-stream answer its early 200) as it would
      // while the upstream is silent. A failure within the keep-alive interval keeps its status.
      const start = async () => {
        // A bogus token costs one login and a 401, never a download.
        if (withFiles) await loginFirst(app.tokenPool, request.credentials, pooled);
        // Bad, forbidden, unreachable or oversized files fail here, before any upstream chat exists.
        const files = await app.attachments.prepare(request.body.messages, signal, request.inlineFiles ?? undefined);
        if (reply.raw.closed) void files.dispose();
        else reply.raw.once('close', () => void files.dispose());
        plan.message.prepareAttachments = files.upload;
        const trace = app.traceCompletion(request, plan, pooled);
        const { deltas, result, meta } = startCompletion({ ...deps, onStarted: trace.started }, request.credentials, plan, signal, request.log, pooled, turn, initial);
        return { deltas: trace.observe(endOnShutdown(deltas, app.shutdownSignal), result.usage), result, meta };
      };
      if (plan.stream) {
        return reply.eventStream(streamChunks(start, plan.includeUsage));
      }
      return reply.jsonKeepAlive(start().then(({ deltas, meta, result }) => collectCompletion(deltas, meta, result)));
    },
  );
};

export default chatCompletions;
