import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ChatCompletionRequestSchema, ChatCompletionSchema } from '../schemas/chat.js';
import { ErrorResponses } from '../schemas/error.js';
import { planCompletion, startCompletion } from '../src/chat.js';
import { abortOnClose } from '../src/client-abort.js';
import { collectCompletion, streamChunks } from '../src/openai-format.js';

/** POST /v1/chat/completions, streaming (SSE) or not, as the body's `stream` says. */
const chatCompletions: FastifyPluginAsyncTypebox = async (app) => {
  const deps = {
    pool: app.tokenPool,
    dialect: app.upstream.dialect,
    discardChat: app.chatJanitor.discardChat,
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
      const signal = abortOnClose(reply.raw);
      // Bad, forbidden, unreachable or oversized files fail here, before any upstream chat exists.
      const files = await app.attachments.prepare(request.body.messages, signal);
      reply.raw.once('close', () => void files.dispose());
      plan.message.prepareAttachments = files.upload;
      const pooled = request.credentials === app.serverAccounts.tokens;
      const trace = app.traceCompletion(request, plan, pooled);
      const { deltas, counter, meta } = startCompletion({ ...deps, onStarted: trace.started }, request.credentials, plan, signal, request.log, pooled);
      const observed = trace.observe(deltas, counter);
      if (plan.stream) return reply.eventStream(streamChunks(observed, meta, counter, plan.includeUsage));
      return reply.jsonKeepAlive(collectCompletion(observed, meta, counter));
    },
  );
};

export default chatCompletions;
