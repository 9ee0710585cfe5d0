// pm2: `npm ci && npm run build`, then `pm2 start ecosystem.config.cjs`.
module.exports = {
  apps: [
    {
      name: 'step-gateway',
      script: 'dist/src/server.js',
      cwd: __dirname,
      node_args: '--expose-gc',
      exec_mode: 'cluster',
      instances: 1,
      // server.ts forces an exit 30 s after SIGINT/SIGTERM; give it that and a margin.
      kill_timeout: 35000,
      out_file: 'logs/step-gateway.out.log',
      error_file: 'logs/step-gateway.err.log',
      env: { PORT: 8000, HOST: '0.0.0.0', DATA_DIR: './data' },
    },
  ],
};
