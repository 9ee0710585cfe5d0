import cluster from 'node:cluster';
import { buildApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`Configuration error: ${err.message}`);
      process.exit(1);
    }
    throw err;
  }
  const app = await buildApp(config);
  let closing = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      if (closing) return;
      closing = true;
      app.log.info({ signal, graceMs: config.SHUTDOWN_GRACE_MS }, 'shutting down: finishing open requests and upstream chat deletions');
      const force = setTimeout(() => process.exit(1), config.SHUTDOWN_GRACE_MS + 30_000).unref();
      // A cluster worker (pm2's cluster mode) has siblings: stop listening at once, so the master
      // hands new connections to them (`pm2 reload` drops none), and serve the few it handed over
      // before it heard of the close. Alone, keep listening: a load balancer reads the 503 of
      // /readyz, and new requests get 503 shutting_down.
      if (cluster.isWorker) app.server.close();
      app
        .drain(config.SHUTDOWN_GRACE_MS, { serveArrivals: cluster.isWorker })
        .then(() => app.close())
        .then(
        () => {
          clearTimeout(force);
          process.exit(0);
        },
        (err) => {
          app.log.error({ err }, 'error while closing');
          process.exit(1);
        },
      );
    });
  }
  await app.listen({ port: config.PORT, host: config.HOST });
}

main().catch((err: Error & { code?: string }) => {
  // A port in use and the like are the operator's to fix: one line. A stack only for a bug.
  if (err.code && /^(E[A-Z]+|FST_|STEP_)/.test(err.code)) console.error(`Could not start: ${err.message}`);
  else console.error(err);
  process.exit(1);
});
