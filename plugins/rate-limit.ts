import createError from '@fastify/error';
import rateLimit from '@fastify/rate-limit';
import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { matchApiKey } from '../src/accounts/callers.js';

/** A caller over RATE_LIMIT_MAX in the window: 429 in the OpenAI shape with Retry-After. */
export const RateLimitedError = createError('STEP_RATE_LIMITED', 'Rate limit reached for %s (%s); retry in %s s', 429);

// The API routes; probes, metrics, admin and docs are never limited.
const limited = (request: FastifyRequest) => /^\/(v1|token)\//.test(request.routeOptions.url ?? request.url);

/**
 * RATE_LIMIT_MAX requests per RATE_LIMIT_WINDOW_MS (@fastify/rate-limit, in memory or in Redis), counted per
 * API key name when the request presents one of API_KEYS, else per client IP (which honours
 * X-Forwarded-For only as TRUST_PROXY says). Off when RATE_LIMIT_MAX is 0.
 */
export default fp(
  async (app) => {
    const { config } = app;
    if (config.RATE_LIMIT_MAX === 0) return;
    const windowS = Math.max(1, Math.round(config.RATE_LIMIT_WINDOW_MS / 1000));
    await app.register(rateLimit, {
      global: true,
      max: config.RATE_LIMIT_MAX,
      timeWindow: config.RATE_LIMIT_WINDOW_MS,
      // With REDIS_URL every replica counts in one place; while Redis is unreachable requests pass.
      ...(app.sharedRedis ? { redis: app.sharedRedis.client, nameSpace: app.sharedRedis.key('rate', ''), skipOnError: true } : {}),
      allowList: (request) => !limited(request),
      keyGenerator: (request) => {
        const key = matchApiKey(app.apiKeys, request.headers.authorization);
        return key ? `key:${key.name}` : `ip:${request.ip}`;
      },
      onExceeded: (_request, key) => {
        if (key.startsWith('key:')) app.keyStats.rateLimited(key.slice(4));
      },
      errorResponseBuilder: (request, context) => {
        const key = matchApiKey(app.apiKeys, request.headers.authorization);
        const who = key ? `API key ${key.name}` : 'this client address';
        const retryAfter = Math.max(1, Math.ceil(context.ttl / 1000));
        return Object.assign(new RateLimitedError(who, `${context.max} requests per ${windowS} s`, retryAfter), { retryAfter });
      },
    });
  },
  { name: 'rate-limit', dependencies: ['config', 'token-pool', 'shared-state'] },
);
