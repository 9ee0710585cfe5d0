import { upstreamStatus } from './http.js';

/** Where drift reports go: a logger with `warn`, as pino's. */
export interface DriftLog {
  warn(obj: object, msg: string): void;
}

/** Names become a metric label and a log field: short, plain, and a bounded set of them. */
const MAX_NAMES = 50;
const PLAIN_NAME = /^[A-Za-z][\w.-]{0,63}$/;

/**
 * Notices the upstream changing under the service: event kinds it does not know (said once per
 * name at warn, counted per name) and auxiliary calls that stopped answering (said once per call).
 * Neither fails an answer.
 */
export function createDrift(log: DriftLog) {
  const unknown = new Map<string, number>();
  const auxiliary = new Set<string>();
  const listeners: Array<(name: string) => void> = [];

  /** An event kind the dialect does not know: ignored, named once in the log, counted. */
  function unknownEvent(raw: string): void {
    const name = PLAIN_NAME.test(raw) && (unknown.has(raw) || unknown.size < MAX_NAMES) ? raw : 'other';
    const seen = unknown.get(name) ?? 0;
    unknown.set(name, seen + 1);
    if (seen === 0) log.warn({ event: name }, 'ignoring an upstream stream event of an unknown kind (said once per kind)');
    for (const listen of listeners) listen(name);
  }

  /** An auxiliary call (search switch, model list) failed; the completion goes on without it. */
  function auxiliaryFailed(call: string, err: unknown): void {
    if (auxiliary.has(call)) return;
    auxiliary.add(call);
    const e = err as { code?: string; message?: string };
    log.warn({ call, status: upstreamStatus(err), code: e?.code }, `${call} failed upstream; going on without it (said once per call): ${e?.message ?? ''}`);
  }

  return {
    unknownEvent,
    auxiliaryFailed,
    /** Calls `listen` with each unknown event's (bounded) name, e.g. to count it in /metrics. */
    onUnknownEvent(listen: (name: string) => void): void {
      listeners.push(listen);
    },
    /** Unknown event kinds seen so far, by name. */
    unknownEvents: (): Record<string, number> => Object.fromEntries(unknown),
  };
}

export type Drift = ReturnType<typeof createDrift>;
