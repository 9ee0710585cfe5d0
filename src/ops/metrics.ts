import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const PREFIX = 'step_gateway_';

/**
 * The service's Prometheus series in a registry of their own (one per app, so tests that build
 * several apps do not share counts). Series that other parts feed later (tool calls, account
 * states) are registered here so dashboards can be built before they move.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: PREFIX });
  const registers = [registry];
  const gaugeReaders: Array<() => void> = [];
  return {
    registry,
    httpRequests: new Counter({ name: `${PREFIX}http_requests_total`, help: 'HTTP requests by route and status', labelNames: ['method', 'route', 'status'], registers }),
    completionDuration: new Histogram({
      name: `${PREFIX}completion_duration_seconds`,
      help: 'Chat completions from request to last byte, by mode (stream, json), model and outcome',
      labelNames: ['mode', 'model', 'outcome'],
      buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300],
      registers,
    }),
    timeToFirstToken: new Histogram({
      name: `${PREFIX}completion_time_to_first_token_seconds`,
      help: 'Chat completions from request to the first answer text, by mode and model',
      labelNames: ['mode', 'model'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
      registers,
    }),
    upstreamCalls: new Counter({ name: `${PREFIX}upstream_calls_total`, help: 'StepChat calls by call and outcome (ok or error code)', labelNames: ['call', 'outcome'], registers }),
    activeStreams: new Gauge({ name: `${PREFIX}active_streams`, help: 'Streaming completions in progress', registers }),
    chatsCreated: new Counter({ name: `${PREFIX}upstream_chats_created_total`, help: 'Upstream chats created', registers }),
    chatsDeleted: new Counter({ name: `${PREFIX}upstream_chats_deleted_total`, help: 'Upstream chats deleted', registers }),
    chatsPendingDeletion: new Gauge({
      name: `${PREFIX}upstream_chats_pending_deletion`,
      help: 'Upstream chats whose deletion is under way',
      registers,
      collect() {
        for (const read of gaugeReaders) read();
      },
    }),
    accounts: new Gauge({ name: `${PREFIX}accounts`, help: 'StepChat accounts known to the service by state', labelNames: ['state'], registers }),
    queuedRequests: new Gauge({ name: `${PREFIX}queued_requests`, help: 'Requests waiting for a free account (TOKEN_MAX_CONCURRENCY)', registers }),
    tokens: new Counter({ name: `${PREFIX}tokens_total`, help: 'Estimated tokens by kind (prompt, completion) and model', labelNames: ['kind', 'model'], registers }),
    unknownEvents: new Counter({
      name: `${PREFIX}upstream_unknown_events_total`,
      help: 'Upstream stream events of a kind the service does not know (ignored), by event name',
      labelNames: ['event'],
      registers,
    }),
    toolCalls: new Counter({ name: `${PREFIX}tool_calls_total`, help: 'Tool calls returned to clients by model', labelNames: ['model'], registers }),
    redisUp: new Gauge({ name: `${PREFIX}redis_up`, help: '1 while the Redis shared with other replicas answers, 0 while it does not (absent without REDIS_URL)', registers: [] }),
    redisErrors: new Gauge({ name: `${PREFIX}redis_errors`, help: 'Redis commands and connections that failed, the service going on with local state', registers: [] }),
    /** Runs `read` before each scrape, to set gauges from state kept elsewhere. */
    onScrape(read: () => void): void {
      gaugeReaders.push(read);
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

function outcomeOf(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && code ? code : 'error';
}

/**
 * Counts every call of the dialect's methods by name and outcome, in place, so the token pool,
 * the janitor and the routes that hold the dialect are all measured without knowing it.
 */
export function instrumentDialect(dialect: object, metrics: Metrics): void {
  const target = dialect as Record<string, unknown>;
  for (const [name, fn] of Object.entries(target)) {
    if (typeof fn !== 'function') continue;
    target[name] = async (...args: unknown[]) => {
      try {
        const result = await (fn as (...a: unknown[]) => Promise<unknown>).apply(dialect, args);
        metrics.upstreamCalls.inc({ call: name, outcome: 'ok' });
        if (name === 'createChat') metrics.chatsCreated.inc();
        else if (name === 'deleteChat') metrics.chatsDeleted.inc();
        return result;
      } catch (err) {
        metrics.upstreamCalls.inc({ call: name, outcome: outcomeOf(err) });
        throw err;
      }
    };
  }
}
