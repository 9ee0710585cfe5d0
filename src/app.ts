import cors from '@fastify/cors';
import sensible from '@fastify/sensible';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController, type FastifyServerOptions } from 'fastify';
import accountsPlugin from '../plugins/accounts.js';
import attachmentPlugin from '../plugins/attachment-uploader.js';
import authPlugin from '../plugins/auth.js';
import bodyBudget from '../plugins/body-budget.js';
import jsonBody from '../plugins/json-body.js';
import configPlugin from '../plugins/config.js';
import conversationsPlugin from '../plugins/conversations.js';
import errorHandler from '../plugins/error-handler.js';
import completionTrace from '../plugins/completion-trace.js';
import drain from '../plugins/drain.js';
import health from '../plugins/health.js';
import jsonKeepAlive from '../plugins/json-keepalive.js';
import metrics from '../plugins/metrics.js';
import modelCatalog from '../plugins/model-catalog.js';
import openapi from '../plugins/openapi.js';
import sharedState from '../plugins/shared-state.js';
import ssePlugin from '../plugins/sse-reply.js';
import tokenPoolPlugin from '../plugins/token-pool.js';
import underPressure from '../plugins/under-pressure.js';
import rateLimitPlugin from '../plugins/rate-limit.js';
import upstreamPlugin from '../plugins/upstream-client.js';
import admin from '../routes/admin.js';
import chatCompletions from '../routes/chat-completions.js';
import models from '../routes/models.js';
import root from '../routes/root.js';
import token from '../routes/token.js';
import type { Config } from './config.js';
import { loggerOptions } from './ops/logger.js';

/** TRUST_PROXY as Fastify takes it: off, on, a hop count, or the proxies' addresses. */
export function trustProxy(value: string): boolean | string | ((address: string, hop: number) => boolean) {
  const v = value.trim().toLowerCase();
  if (v === '' || v === 'false') return false;
  if (v === 'true') return true;
  if (/^\d+$/.test(v)) return (_address, hop) => hop < Number(v);
  return value.trim();
}

export interface BuildOptions {
  /** Where logs go (tests capture them); default stdout (pretty when it is a terminal). */
  logStream?: NodeJS.WritableStream;
  /** A token the playground offers to fill in (`npm run demo`). */
  demoToken?: string;
}

/**
 * Builds the service, ready to listen. A request goes: CORS → route schema validation → auth
 * (which StepChat accounts) → route handler (src/openai/chat.ts; attachments fetched and checked by the
 * attachment uploader) → token pool + upstream client (attachments uploaded before the chat) →
 * SSE reply helper or JSON → error handler for anything that failed. Around it: load shedding
 * (under-pressure), OpenAPI docs, metrics and one log line per completion, health probes.
 */
export async function buildApp(config: Config, opts: BuildOptions = {}) {
  const logger: FastifyServerOptions['logger'] = { ...loggerOptions(config.LOG_LEVEL, !opts.logStream && process.stdout.isTTY === true), ...(opts.logStream ? { stream: opts.logStream } : {}) };
  const app = Fastify({
    logger,
    bodyLimit: config.BODY_LIMIT_BYTES,
    // A body trickling in at a byte a second is cut with 408. Node checks the deadline only every
    // connectionsCheckingInterval (30 s by default), so that runs at most a second apart; and it
    // enforces requestTimeout only when given to createServer, not set on the server afterwards.
    requestTimeout: config.REQUEST_TIMEOUT_MS,
    ...(config.REQUEST_TIMEOUT_MS > 0
      ? { http: { requestTimeout: config.REQUEST_TIMEOUT_MS, connectionsCheckingInterval: Math.min(1000, config.REQUEST_TIMEOUT_MS) } }
      : {}),
    // Off by default: trusting X-Forwarded-For from anyone would let a client pick its own IP (rate limits).
    trustProxy: trustProxy(config.TRUST_PROXY),
    // Per-request "incoming/completed" lines only when debugging: at info they would dominate the log.
    logController: new LogController({ disableRequestLogging: config.LOG_LEVEL !== 'debug' && config.LOG_LEVEL !== 'trace' }),
    // unicode: false: string lengths in UTF-16 units (String#length) rather than code points counted
    // over the whole string, which blocked the event loop ~90 ms on a 60 MB data URL (the only
    // length bound is a URL's minLength 1, the same in both counts).
    ajv: { customOptions: { coerceTypes: false, unicode: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  await app.register(configPlugin, { config });
  await app.register(errorHandler);
  await app.register(underPressure);
  await app.register(bodyBudget);
  await app.register(jsonBody);
  await app.register(sensible);
  // Before the routes: it documents every route registered after it.
  await app.register(openapi);
  await app.register(cors, {
    origin: config.CORS_ORIGIN === '*' ? '*' : config.CORS_ORIGIN.split(',').map((s) => s.trim()),
    // No fixed list: the preflight's requested headers are reflected, which covers Authorization,
    // Content-Type and every X-Stainless-* header the openai SDKs add.
    exposedHeaders: ['x-should-retry', 'retry-after'],
    maxAge: 86_400,
  });
  await app.register(upstreamPlugin);
  await app.register(sharedState);
  await app.register(tokenPoolPlugin);
  await app.register(accountsPlugin);
  await app.register(conversationsPlugin);
  await app.register(attachmentPlugin);
  await app.register(authPlugin);
  await app.register(rateLimitPlugin);
  await app.register(modelCatalog);
  await app.register(ssePlugin);
  await app.register(jsonKeepAlive);
  await app.register(metrics);
  await app.register(completionTrace);
  await app.register(health);
  await app.register(drain);

  await app.register(root, { demoToken: opts.demoToken });
  await app.register(models);
  await app.register(token);
  await app.register(chatCompletions);
  await app.register(admin);
  await app.ready();
  return app;
}

export type App = Awaited<ReturnType<typeof buildApp>>;
