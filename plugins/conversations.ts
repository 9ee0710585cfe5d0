import fp from 'fastify-plugin';
import { createConversations } from '../src/openai/conversations.js';
import { createRedisConversationShare } from '../src/shared-state/conversation-share.js';

declare module 'fastify' {
  interface FastifyInstance {
    conversations: ReturnType<typeof createConversations>;
  }
}

/** Upstream chats kept between turns (CONVERSATION_MODE); all deleted at shutdown. */
export default fp(
  async (app) => {
    const { config } = app;
    const share = app.sharedRedis ? createRedisConversationShare(app.sharedRedis) : undefined;
    // A dead replica's kept chat is deleted by the sweeper: its record goes first, whatever its stamp.
    if (share) app.chatJanitor.onOrphan((chatId) => share.claim(chatId, ''));
    const conversations = createConversations({
      mode: config.CONVERSATION_MODE,
      ttlMs: config.CONVERSATION_TTL_MS,
      maxKept: config.CONVERSATION_MAX_KEPT,
      discardChat: app.chatJanitor.discardChat,
      log: app.log,
      ...(share ? { share, adopt: app.chatJanitor.track, handOver: app.chatJanitor.forget } : {}),
    });
    app.decorate('conversations', conversations);
    // Before the janitor's own drain, whichever order the hooks run in: wait here as well.
    app.addHook('onClose', async () => {
      await conversations.close();
      await app.chatJanitor.drain();
    });
  },
  { name: 'conversations', dependencies: ['config', 'token-pool', 'shared-state'] },
);
