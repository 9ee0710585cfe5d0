import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Pool } from 'undici';
import { answerFor } from '../test/emulator/answer.js';
import { mulberry32 } from '../test/emulator/prng.js';
import { drive, round } from './lib/driver.js';
import { callGateway } from './lib/gateway.js';
import { build, OUT, rssMb, rssSampler, startEmulatorProc, startServiceProc, stop } from './lib/procs.js';
import { control, newAccount, settleChats, type EmulatorStats } from './lib/scenario.js';
import { checkText, judge, MIX, plan, type Kind } from './lib/soak-mix.js';
import type { Dialect } from './lib/upstream.js';

// npm run soak: long mixed traffic with faults against the built service and the emulator (random
// fragmentation on), then the ledger: every completed answer must equal what the upstream sent,
// and every upstream chat created must have been deleted; exit code 1 otherwise, or when any request
// misbehaved (a completion that failed, a fault answered as a success). Knobs (env):
//   SOAK_SECONDS=180      how long to drive load      SOAK_COMPLETIONS=0  stop after this many (0: no limit)
//   SOAK_CONCURRENCY=32   concurrent requests         SOAK_EXPIRE_MS=3000 expire all access tokens this often
//   SOAK_SEED=<random>    seeds the mix and the emulator's fragmentation (replays the mix exactly)
//   SOAK_DIALECT=capy     or yuewen                   BENCH_SKIP_BUILD=1  use dist/ as it is

const env = process.env;
const SECONDS = Number(env.SOAK_SECONDS ?? 180);
const LIMIT = Number(env.SOAK_COMPLETIONS ?? 0);
const CONCURRENCY = Number(env.SOAK_CONCURRENCY ?? 32);
const EXPIRE_MS = Number(env.SOAK_EXPIRE_MS ?? 3000);
const SEED = Number(env.SOAK_SEED ?? Math.floor(Math.random() * 2 ** 31));
const DIALECT = (env.SOAK_DIALECT ?? env.BENCH_DIALECT ?? 'capy') as Dialect;
const MODEL = DIALECT === 'capy' ? 'step-auto' : 'step';
const MIN_COMPLETIONS = 20_000;

async function main(): Promise<number> {
  if (env.BENCH_SKIP_BUILD !== '1') build();
  const emu = await startEmulatorProc(DIALECT);
  // The probe takes a full-GC heap reading at each quarter mark: RSS says what the process holds,
  // the live heap says whether anything is leaking.
  const heapFile = join(OUT, 'soak-heap.jsonl');
  if (existsSync(heapFile)) rmSync(heapFile);
  const svc = await startServiceProc({
    upstream: emu.url,
    dialect: DIALECT,
    name: 'soak-service',
    nodeArgs: ['--import', './bench/service-probe.mjs'],
    env: { BENCH_HEAP_FILE: heapFile },
  });
  try {
    await control(emu.url, 'POST', 'config', { fragment: true, frames: 20, frameDelayMs: 0, seed: SEED });
    const token = await newAccount(emu.url);
    console.log(`soak: ${DIALECT}, ${SECONDS} s${LIMIT ? ` or ${LIMIT} completions` : ''}, ${CONCURRENCY} concurrent, seed ${SEED}`);
    console.log(`mix: ${MIX.map(([k, w]) => `${k} ${w}%`).join(', ')}; access tokens expired every ${EXPIRE_MS} ms`);
    const idleRssMb = round(rssMb(svc.pid), 1);

    const rng = mulberry32(SEED);
    const origin = new URL(svc.url).origin;
    const pool = new Pool(origin, { connections: CONCURRENCY, keepAliveTimeout: 60_000 });
    const ledger = { expectedChars: 0, receivedChars: 0, answers: 0, mismatched: 0 };
    const byKind = new Map<Kind, number>();
    const outcomes = new Map<string, number>();
    const problems: string[] = [];
    const deferred: { tag: string; text: string }[] = [];
    const count = (m: Map<string, number>, k: string): void => void m.set(k, (m.get(k) ?? 0) + 1);
    let expiries = 0;
    const expirer = setInterval(() => {
      expiries++;
      void control(emu.url, 'POST', 'expire').catch(() => undefined);
    }, EXPIRE_MS);
    const rss = rssSampler(svc.pid, 250);
    const t0 = Date.now();
    const marks = [1, 2, 3, 4].map((q) => setTimeout(() => svc.child.kill('SIGUSR2'), (q * SECONDS * 1000) / 4 - (q === 4 ? 1000 : 0)));
    let progress = 0;
    const ticker = setInterval(() => {
      const done = [...byKind.values()].reduce((a, b) => a + b, 0);
      console.log(`  ${Math.round((Date.now() - t0) / 1000)} s: ${done} requests (${Math.round((done - progress) / 10)}/s), RSS ${round(rssMb(svc.pid), 1)} MB, problems ${problems.length}`);
      progress = done;
    }, 10_000);

    await drive({ connections: CONCURRENCY, warmupMs: 0, durationMs: SECONDS * 1000, count: LIMIT || undefined }, async (seq, started) => {
      const p = plan(seq, rng, DIALECT, MODEL);
      count(byKind as Map<string, number>, p.kind);
      const r = await callGateway(pool, origin, token, p.body, started, { collect: true, abortAfterFirst: p.abortAfterFirst });
      const v = judge(p, r);
      count(outcomes, `${p.kind}: ${r.aborted ? 'aborted by client' : r.done ? 'completed' : `HTTP ${r.status} ${r.errorCode ?? 'incomplete'}`}`);
      if (v.deferred) deferred.push(v.deferred);
      if (v.expectedChars !== undefined) {
        ledger.answers++;
        ledger.expectedChars += v.expectedChars;
        ledger.receivedChars += v.receivedChars ?? 0;
        if (v.expectedChars !== v.receivedChars) ledger.mismatched++;
      }
      if (!v.asIntended && problems.length < 1000) problems.push(v.problem ?? p.kind);
      return { ok: v.asIntended, ttftMs: r.ttftMs, error: v.problem };
    }).catch((err: unknown) => problems.push(`driver: ${(err as Error).message}`));
    const elapsed = Date.now() - t0;
    for (const m of marks) clearTimeout(m);
    clearInterval(expirer);
    clearInterval(ticker);
    rss.stop();
    await pool.close();

    // Multi-turn: the expected answer is the one for the flattened text the emulator received.
    const received = new Map<string, string>();
    for (const m of await control<{ text: string }[]>(emu.url, 'GET', 'messages')) {
      const tag = /\bmt\d+x\b/.exec(m.text)?.[0];
      if (tag) received.set(tag, m.text);
    }
    for (const d of deferred) {
      const text = received.get(d.tag);
      const v = text === undefined ? { expectedChars: 0, receivedChars: 0, asIntended: false, problem: `multi-turn ${d.tag}: never reached the upstream` } : checkText(answerFor(text).join(''), d.text, 'multi-turn');
      ledger.answers++;
      ledger.expectedChars += v.expectedChars ?? 0;
      ledger.receivedChars += v.receivedChars ?? 0;
      if (!v.asIntended) {
        ledger.mismatched++;
        problems.push(v.problem ?? 'multi-turn');
      }
    }

    // Chats kept for the next turn (CONVERSATION_MODE auto) are live by design until their TTL or
    // shutdown: stop the service as an operator would, then every chat it created must be gone.
    await stop(svc.child, 'SIGTERM', 30_000);
    const stats = await settleChats(emu.url, 60_000);
    // Attachments reach the upstream once the gateway uploads them (capy records each upload).
    const uploads = DIALECT === 'capy' ? (await control<unknown[]>(emu.url, 'GET', 'uploads')).length : null;
    const leaked = stats.chatsCreated - stats.chatsDeleted;
    const quarters = [0, 1, 2, 3].map((q) => {
      const xs = rss.samples.filter((s) => s.at - t0 >= (q * elapsed) / 4 && s.at - t0 < ((q + 1) * elapsed) / 4).map((s) => s.mb);
      return { quarter: q + 1, meanMb: round(xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length), 1), peakMb: round(Math.max(0, ...xs), 1) };
    });
    const liveHeapMb = existsSync(heapFile)
      ? readFileSync(heapFile, 'utf8')
          .trim()
          .split('\n')
          .map((l) => (JSON.parse(l) as { heapUsed: number }).heapUsed)
      : [];
    const drift = round(((quarters[3]!.meanMb - quarters[1]!.meanMb) / quarters[1]!.meanMb) * 100, 1);
    const total = [...byKind.values()].reduce((a, b) => a + b, 0);
    const result = {
      settings: { dialect: DIALECT, seconds: SECONDS, limit: LIMIT, concurrency: CONCURRENCY, expireMs: EXPIRE_MS, seed: SEED },
      elapsedMs: elapsed,
      requests: total,
      perSecond: round((total / elapsed) * 1000, 1),
      byKind: Object.fromEntries(byKind),
      outcomes: Object.fromEntries([...outcomes].sort()),
      ledger: { ...ledger, lostChars: ledger.expectedChars - ledger.receivedChars },
      chats: { created: stats.chatsCreated, deleted: stats.chatsDeleted, live: stats.liveChats, leaked },
      emulator: stats as EmulatorStats & Record<string, unknown>,
      tokenExpiries: expiries,
      uploads,
      rss: { idleMb: idleRssMb, quarters, lastVsSecondPct: drift, liveHeapAfterGcMb: liveHeapMb },
      problems: problems.slice(0, 50),
      problemCount: problems.length,
    };
    mkdirSync(OUT, { recursive: true });
    writeFileSync(join(OUT, 'soak-results.json'), `${JSON.stringify(result, null, 2)}\n`);
    report(result);
    const failed = ledger.mismatched > 0 || leaked !== 0 || stats.liveChats !== 0 || problems.length > 0;
    return failed ? 1 : 0;
  } finally {
    await stop(svc.child);
    await stop(emu.child);
  }
}

function report(r: {
  requests: number;
  elapsedMs: number;
  perSecond: number;
  outcomes: Record<string, number>;
  ledger: { answers: number; expectedChars: number; receivedChars: number; mismatched: number; lostChars: number };
  chats: { created: number; deleted: number; live: number; leaked: number };
  tokenExpiries: number;
  uploads: number | null;
  rss: { idleMb: number; quarters: { quarter: number; meanMb: number; peakMb: number }[]; lastVsSecondPct: number; liveHeapAfterGcMb: number[] };
  problems: string[];
  problemCount: number;
}): void {
  const mark = (ok: boolean): string => (ok ? 'met' : 'NOT MET');
  console.log(`\nSoak: ${r.requests} requests in ${(r.elapsedMs / 1000).toFixed(0)} s (${r.perSecond}/s), ${r.tokenExpiries} token expiries, ${r.uploads ?? 'n/a'} uploads seen upstream`);
  console.log('\nOutcomes by kind:');
  for (const [k, n] of Object.entries(r.outcomes)) console.log(`  ${String(n).padStart(7)}  ${k}`);
  const l = r.ledger;
  console.log(`\nCompleted answers checked: ${l.answers}; characters expected ${l.expectedChars}, received ${l.receivedChars}, lost ${l.lostChars}; answers that differ: ${l.mismatched}`);
  console.log(`Upstream chats: created ${r.chats.created}, deleted ${r.chats.deleted}, still live ${r.chats.live}`);
  console.log(`Service RSS: idle ${r.rss.idleMb} MB; per quarter (mean / peak): ${r.rss.quarters.map((q) => `Q${q.quarter} ${q.meanMb}/${q.peakMb}`).join(', ')} MB`);
  if (r.rss.liveHeapAfterGcMb.length > 0) console.log(`Live heap after a full GC at each quarter mark: ${r.rss.liveHeapAfterGcMb.join(', ')} MB`);
  if (r.problemCount > 0) console.log(`\n${r.problemCount} requests did not behave as intended, e.g.:\n  ${r.problems.slice(0, 10).join('\n  ')}`);
  console.log('\nTargets');
  console.log(`  ≥ ${MIN_COMPLETIONS} completions: ${r.requests}  ${mark(r.requests >= MIN_COMPLETIONS)}`);
  console.log(`  zero lost characters: ${l.lostChars} lost, ${l.mismatched} answers differ  ${mark(l.mismatched === 0)}`);
  console.log(`  zero leaked chats: ${r.chats.leaked} leaked, ${r.chats.live} live  ${mark(r.chats.leaked === 0 && r.chats.live === 0)}`);
  // Growth is what a leak looks like; a last quarter below the second is GC timing, not a failure.
  console.log(`  RSS last quarter at most 10% above the second: ${r.rss.lastVsSecondPct > 0 ? '+' : ''}${r.rss.lastVsSecondPct}%  ${mark(r.rss.lastVsSecondPct <= 10)}`);
  console.log(`\nwrote ${join(OUT, 'soak-results.json')}`);
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
