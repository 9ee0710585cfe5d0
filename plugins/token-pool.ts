import fp from 'fastify-plugin';
import { parseCredentialList, type ServerAccounts } from '../src/auth.js';
import { createChatJanitor } from '../src/chat-janitor.js';
import { createCredentialStore } from '../src/credential-store.js';
import { splitList } from '../src/credentials.js';
import { createTokenPool } from '../src/token-pool.js';

declare module 'fastify' {
  interface FastifyInstance {
    tokenPool: ReturnType<typeof createTokenPool>;
    chatJanitor: ReturnType<typeof createChatJanitor>;
    serverAccounts: ServerAccounts;
  }
}

/** The StepChat accounts: session cache and spreading (token pool), and deletion of used chats. */
export default fp(
  async (app) => {
    const { config } = app;
    const pool = createTokenPool({
      dialect: app.upstream.dialect,
      store: createCredentialStore(config.DATA_DIR, app.log, `${config.STEP_DIALECT}\n${app.upstream.http.origin}`),
      refreshMarginMs: config.TOKEN_REFRESH_MARGIN_MS,
      maxConcurrency: config.TOKEN_MAX_CONCURRENCY,
    });
    const janitor = createChatJanitor(pool, app.upstream.dialect, app.log, app.upstream.drift);
    app.decorate('tokenPool', pool);
    app.decorate('chatJanitor', janitor);
    app.decorate('serverAccounts', {
      tokens: config.STEP_TOKENS ? parseCredentialList(config.STEP_TOKENS) : [],
      apiKeys: splitList(config.API_KEYS),
    });
    if (app.serverAccounts.tokens.length > 0 && app.serverAccounts.apiKeys.length === 0) {
      app.log.warn('STEP_TOKENS is set without API_KEYS: anyone who can reach this service uses those accounts');
    }
    app.addHook('onClose', () => janitor.drain());
  },
  { name: 'token-pool', dependencies: ['config', 'upstream-client'] },
);
