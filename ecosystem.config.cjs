// pm2, the original's native way to run: `npm ci && npm run build`, then `pm2 start ecosystem.config.cjs`.
// Settings come from the environment of `pm2 start` (or a .env you source first); the values
// below are only the defaults. `pm2 reload step-gateway` swaps the worker without dropping a request:
// cluster mode starts the new one, waits for it to listen, then sends the old one SIGINT, and the
// old one finishes its open answers before it exits.
const env = (name, fallback) => process.env[name] ?? fallback;

module.exports = {
  apps: [
    {
      name: 'step-gateway',
      script: 'dist/src/server.js',
      cwd: __dirname,
      node_args: '--expose-gc --v8-pool-size=1',
      // Cluster mode is what lets `pm2 reload` hand over the port with no gap. Keep one instance:
      // accounts, limits and conversations are per process.
      exec_mode: 'cluster',
      instances: Number(env('PM2_INSTANCES', 1)),
      // server.ts forces an exit 30 s after SIGINT/SIGTERM (SHUTDOWN_GRACE_MS when set): give it that and a margin.
      kill_timeout: Number(env('SHUTDOWN_GRACE_MS', 30000)) + 5000,
      // pm2 reload stops the old worker once the new one listens, or after listen_timeout (pm2's
      // default 3 s) even if it does not: a start slower than that on a busy machine left nobody
      // listening (connections refused).
      listen_timeout: 30000,
      // A crash loop backs off instead of spinning.
      exp_backoff_restart_delay: 200,
      out_file: env('PM2_OUT_FILE', 'logs/step-gateway.out.log'),
      error_file: env('PM2_ERROR_FILE', 'logs/step-gateway.err.log'),
      merge_logs: true,
      env: {
        NODE_ENV: 'production',
        PORT: env('PORT', 8000),
        HOST: env('HOST', '0.0.0.0'),
        DATA_DIR: env('DATA_DIR', './data'),
      },
    },
  ],
};
