import fp from 'fastify-plugin';
import { parseCredentialList, type ServerAccounts } from '../src/accounts/auth.js';
import { createChatJanitor } from '../src/accounts/chat-janitor.js';
import { createCredentialStore } from '../src/accounts/credential-store.js';
import { createRedisCredentialShare } from '../src/shared-state/credential-share.js';
import { createFileJournal } from '../src/shared-state/chat-journal.js';
import { parseApiKeys, type ApiKey } from '../src/accounts/callers.js';
import { createKeyStats } from '../src/accounts/key-stats.js';
import { createRedisJournal } from '../src/shared-state/redis-journal.js';
import { createTokenPool } from '../src/accounts/token-pool.js';

declare module 'fastify' {
  interface FastifyInstance {
    tokenPool: ReturnType<typeof createTokenPool>;
    chatJanitor: ReturnType<typeof createChatJanitor>;
    serverAccounts: ServerAccounts;
    /** API_KEYS by name; the keys never leave this process. */
    apiKeys: ApiKey[];
    keyStats: ReturnType<typeof createKeyStats>;
  }
}

/** The StepChat accounts: session cache and spreading (token pool), and deletion of used chats. */
export default fp(
  async (app) => {
    const { config } = app;
    const redis = app.sharedRedis;
    const namespace = `${config.STEP_DIALECT}\n${app.upstream.http.origin}`;
    const store = createCredentialStore(config.DATA_DIR, app.log, namespace);
    const pool = createTokenPool({
      dialect: app.upstream.dialect,
      store,
      ...(redis ? { share: createRedisCredentialShare(redis, namespace) } : {}),
      refreshMarginMs: config.TOKEN_REFRESH_MARGIN_MS,
    });
    // With Redis the survivors sweep a dead replica's chats; alone, the process sweeps at its next start.
    const journal = redis ? createRedisJournal(redis, config.REPLICA_LEASE_MS) : createFileJournal(config.DATA_DIR, app.log);
    const janitor = createChatJanitor(pool, app.upstream.dialect, app.log, journal, app.upstream.drift);
    app.decorate('tokenPool', pool);
    app.decorate('chatJanitor', janitor);
    const apiKeys = parseApiKeys(config.API_KEYS);
    app.decorate('apiKeys', apiKeys);
    app.decorate('keyStats', createKeyStats(apiKeys.map((k) => k.name)));
    app.decorate('serverAccounts', {
      tokens: config.STEP_TOKENS ? parseCredentialList(config.STEP_TOKENS) : [],
      apiKeys: apiKeys.map((k) => k.key),
    });
    if (app.serverAccounts.tokens.length > 0 && app.serverAccounts.apiKeys.length === 0) {
      app.log.warn('STEP_TOKENS is set without API_KEYS: anyone who can reach this service uses those accounts');
    }
    if (!config.ALLOW_CLIENT_TOKENS && app.serverAccounts.tokens.length === 0) {
      app.log.warn('ALLOW_CLIENT_TOKENS=false has no effect without STEP_TOKENS: clients bring the only accounts there are');
    }
    // Chats a killed process left behind (kill -9, OOM): deleted in the background.
    const sweep = () => void janitor.sweep().catch((err: Error) => app.log.warn({ msg: err.message }, 'could not sweep the chat journal'));
    let sweeper: NodeJS.Timeout | undefined;
    app.addHook('onReady', async () => {
      sweep();
      if (redis) sweeper = setInterval(sweep, Math.floor(config.REPLICA_LEASE_MS / 2)).unref();
    });
    app.addHook('onClose', async () => {
      clearInterval(sweeper);
      await janitor.drain();
      await journal.close();
      store.close();
    });
  },
  { name: 'token-pool', dependencies: ['config', 'upstream-client', 'shared-state'] },
);
