import type { FastifyBaseLogger } from 'fastify';
import type { ModelList } from '../../schemas/models.js';
import type { TokenPool } from '../accounts/token-pool.js';
import type { Drift } from '../upstream/drift.js';
import { isAuxiliaryFailure } from '../upstream/http.js';
import type { Credential, Dialect } from '../upstream/types.js';

const CREATED = 1711900800; // 2024-04-01, when StepChat opened to the public
const LIST_TIMEOUT_MS = 10_000;
const RETRY_AFTER_FAILURE_MS = 60_000;

/** Name suffixes that switch a behaviour on: `step-auto-search`, `deepseek-r1-think`. */
const SUFFIXES = { '-search': 'search', '-think': 'reasoning', '-reasoning': 'reasoning' } as const;

export interface ModelChoice {
  /** The upstream model id. */
  model: string;
  search?: boolean;
  reasoning?: boolean;
  /** The request named a model the upstream does not list. */
  unknown?: boolean;
}

/** Splits behaviour suffixes off a requested model name, in any order. */
export function parseModelName(requested: string): { base: string; search: boolean; reasoning: boolean } {
  let base = requested.trim().toLowerCase();
  const flags = { search: false, reasoning: false };
  for (let changed = true; changed; ) {
    changed = false;
    for (const [suffix, flag] of Object.entries(SUFFIXES)) {
      if (base.endsWith(suffix) && base.length > suffix.length) {
        base = base.slice(0, -suffix.length);
        flags[flag] = true;
        changed = true;
      }
    }
  }
  return { base, ...flags };
}

/**
 * The models clients may name: the upstream's list (asked with an account the request may use,
 * cached, refreshed every `refreshMs`), or the dialect's fallback list when it cannot be asked.
 */
export function createModelCatalog(opts: { dialect: Dialect; pool: TokenPool; refreshMs: number; defaultModel: string; log: FastifyBaseLogger; drift?: Drift }) {
  const { dialect, pool } = opts;
  let cache: { ids: string[]; until: number } | undefined;
  let inflight: Promise<string[]> | undefined;

  async function fetchList(creds: Credential[]): Promise<string[]> {
    const cred = pool.candidates(creds)[0];
    if (!cred || !dialect.listModels) throw new Error('no way to ask the upstream');
    const models = await pool.withSession(cred, (s) => dialect.listModels!(s, AbortSignal.timeout(LIST_TIMEOUT_MS)));
    if (models.length === 0) throw new Error('the upstream listed no models');
    return models.map((m) => m.id);
  }

  /** The upstream model ids, from cache when fresh; the fallback list when nothing else works. */
  async function upstreamIds(creds: Credential[]): Promise<string[]> {
    if (cache && cache.until > Date.now()) return cache.ids;
    if (!dialect.listModels || creds.length === 0) return known();
    inflight ??= fetchList(creds)
      .then(
        (ids) => {
          cache = { ids, until: Date.now() + opts.refreshMs };
          return ids;
        },
        (err: Error) => {
          // A renamed or failing model-list call is said once; the fallback list serves meanwhile.
          if (opts.drift && isAuxiliaryFailure(err)) opts.drift.auxiliaryFailed('model list', err);
          else opts.log.warn({ code: (err as { code?: string }).code }, `could not list upstream models, using ${cache ? 'the cached' : 'the fallback'} list: ${err.message}`);
          if (cache) cache.until = Date.now() + RETRY_AFTER_FAILURE_MS;
          return known();
        },
      )
      .finally(() => {
        inflight = undefined;
      });
    return inflight;
  }

  /** The ids known now, without asking the upstream. */
  function known(): string[] {
    return cache?.ids ?? dialect.fallbackModels;
  }

  /** The OpenAI model list: every upstream model and its behaviour variants. */
  async function list(creds: Credential[]): Promise<ModelList> {
    const ids = await upstreamIds(creds);
    const variants = dialect.name === 'yuewen' ? ['', '-search'] : ['', '-search', '-think'];
    const data = ids.flatMap((id) => variants.map((v) => ({ id: `${id}${v}`, object: 'model' as const, created: CREATED, owned_by: 'stepfun' })));
    return { object: 'list', data };
  }

  /** Maps a requested name to the upstream model and the behaviours its suffixes ask for. */
  function resolve(requested: string): ModelChoice {
    const { base, search, reasoning } = parseModelName(requested);
    const ids = known();
    const match = ids.find((id) => id.toLowerCase() === base);
    const fallback = opts.defaultModel || dialect.defaultModel;
    const generic = base === '' || base === 'step' || base.startsWith('gpt-');
    return { model: match ?? fallback, search: search || undefined, reasoning: reasoning || undefined, unknown: !match && !generic };
  }

  const sighted = new Set<string>();
  /** True the first time an unknown name is seen, so the log says it once (bounded set). */
  function firstSighting(name: string): boolean {
    if (sighted.has(name)) return false;
    if (sighted.size >= 1000) sighted.clear();
    sighted.add(name);
    return true;
  }

  return { list, resolve, firstSighting };
}

export type ModelCatalog = ReturnType<typeof createModelCatalog>;
