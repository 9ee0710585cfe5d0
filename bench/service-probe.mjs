// Preloaded into the service by the scale test and the soak (node --import ./bench/service-probe.mjs
// dist/src/server.js): the service has no such metrics of its own and src/ stays untouched.
// - BENCH_ELD_FILE: once a second, a JSON line with the last second's event-loop delay in ms (the
//   sampling timer's resolution taken off) and the memory split (MB) behind the RSS.
// - BENCH_HEAP_FILE: on SIGUSR2, a full GC (the service runs with --expose-gc, like `npm start`)
//   and then a JSON line with the live heap: what is still reachable, i.e. what a leak would grow.
import { appendFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const RESOLUTION_MS = 10;
const mb = (bytes) => Math.round((bytes / 1048576) * 10) / 10;

const eldFile = process.env.BENCH_ELD_FILE;
if (eldFile) {
  const h = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  h.enable();
  const ms = (ns) => Math.max(0, ns / 1e6 - RESOLUTION_MS);
  setInterval(() => {
    const m = process.memoryUsage();
    const line = {
      at: Date.now(),
      p50: ms(h.percentile(50)),
      p99: ms(h.percentile(99)),
      max: ms(h.max),
      mean: ms(h.mean),
      rss: mb(m.rss),
      heapUsed: mb(m.heapUsed),
      heapTotal: mb(m.heapTotal),
      external: mb(m.external),
      arrayBuffers: mb(m.arrayBuffers),
    };
    appendFileSync(eldFile, `${JSON.stringify(line)}\n`);
    h.reset();
  }, 1000).unref();
}

const heapFile = process.env.BENCH_HEAP_FILE;
if (heapFile) {
  process.on('SIGUSR2', () => {
    globalThis.gc?.();
    const m = process.memoryUsage();
    const line = { at: Date.now(), gc: typeof globalThis.gc === 'function', rss: mb(m.rss), heapUsed: mb(m.heapUsed), external: mb(m.external), arrayBuffers: mb(m.arrayBuffers) };
    appendFileSync(heapFile, `${JSON.stringify(line)}\n`);
  });
}
