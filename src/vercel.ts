import type { IncomingMessage, ServerResponse } from 'node:http';
import { buildApp, type App } from './app.js';
import { loadConfig } from './config.js';

/**
 * A request handler for platforms that call a function with Node's (req, res) instead of
 * letting the service listen (Vercel). The app is built once per instance, on first use.
 */
export function createRequestHandler(env: Record<string, string | undefined> = process.env) {
  let app: Promise<App> | undefined;
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    app ??= buildApp(loadConfig(env));
    const ready = await app;
    ready.server.emit('request', req, res);
  };
}
