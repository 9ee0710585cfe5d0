import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ChatCompletionRequestSchema, ChatCompletionSchema } from '../schemas/chat.js';
import { ErrorResponses } from '../schemas/error.js';
import { planCompletion, startCompletion } from '../src/chat.js';
import { abortOnClose } from '../src/client-abort.js';
import { callerKey } from '../src/conversations.js';
import { collectCompletion, streamChunks } from '../src/openai-format.js';

/** POST /v1/chat/completions, streaming (SSE) or not, as the body's `stream` says. */
const chatCompletions: FastifyPluginAsyncTypebox = async (app) => {
  const deps = {
    pool: app.tokenPool,
    dialect: app.upstream.dialect,
    discardChat: app.chatJanitor.discardChat,
    trackChat: app.chatJanitor.track,
    onAccountFailed: app.conversations.forgetAccount,
    reasoningOutput: app.config.REASONING_OUTPUT,
  };
  const planOptions = { models: app.modelCatalog, searchDefault: app.config.SEARCH_DEFAULT };

  app.post(
    '/v1/chat/completions',
    {
      schema: { body: ChatCompletionRequestSchema, response: { 200: ChatCompletionSchema, ...ErrorResponses } },
      preHandler: app.authenticate,
    },
    async (request, reply) => {
      const plan = planCompletion(request.body, { ...planOptions, log: request.log });
      const turn = await app.conversations.begin({
        caller: callerKey(request.headers.authorization),
        messages: request.body.messages,
        conversationId: request.body.conversation_id ?? request.headers['x-conversation-id']?.toString(),
        creds: request.credentials,
        completionId: plan.meta.id,
      });
      // Whatever happens to the request, a chat it took out of keeping goes back or goes away.
      reply.raw.once('close', () => turn.finish(undefined));
      const signal = abortOnClose(reply.raw);
      // Bad, forbidden, unreachable or oversized files fail here, before any upstream chat exists.
      const files = await app.attachments.prepare(request.body.messages, signal);
      reply.raw.once('close', () => void files.dispose());
      plan.message.prepareAttachments = files.upload;
      const pooled = request.credentials === app.serverAccounts.tokens;
      const trace = app.traceCompletion(request, plan, pooled);
      const { deltas, result, meta } = startCompletion({ ...deps, onStarted: trace.started }, request.credentials, plan, signal, request.log, pooled, turn);
      const observed = trace.observe(deltas, result.usage);
      if (plan.stream) return reply.eventStream(streamChunks(observed, meta, result, plan.includeUsage));
      return reply.jsonKeepAlive(collectCompletion(observed, meta, result));
    },
  );
};

export default chatCompletions;
