import { readFileSync } from 'node:fs';

// Summarizes a V8 .cpuprofile (node --cpu-prof): self time per function, inclusive time of the
// service's own functions, and self time per area (the service, Fastify, pino, undici, node, GC).

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileEntry {
  fn: string;
  where: string;
  ms: number;
  pct: number;
}

export interface ProfileSummary {
  /** Sampled time, idle excluded. */
  busyMs: number;
  idleMs: number;
  topSelf: ProfileEntry[];
  /** Inclusive (self + callees) time of functions in dist/ (the service's own code). */
  topInclusiveOwn: ProfileEntry[];
  areas: { area: string; ms: number; pct: number }[];
}

function shortUrl(url: string): string {
  if (!url) return '';
  const nm = url.lastIndexOf('node_modules/');
  if (nm !== -1) return url.slice(nm + 'node_modules/'.length);
  const dist = url.indexOf('/dist/');
  if (dist !== -1) return url.slice(dist + 1);
  return url.replace(/^file:\/\//, '');
}

/** Which part of the process a frame belongs to. */
export function areaOf(frame: CallFrame): string {
  const url = frame.url;
  if (!url) {
    if (frame.functionName === '(garbage collector)') return 'GC';
    if (frame.functionName === '(idle)') return 'idle';
    if (frame.functionName === '(program)') return 'V8/native (program)';
    return 'native';
  }
  if (url.includes('/dist/')) return 'service (dist/)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) {
    const pkg = nm[1]!;
    if (pkg.startsWith('pino') || pkg === 'sonic-boom' || pkg === 'fast-redact' || pkg.startsWith('@pinojs')) return 'pino (logging)';
    if (pkg === 'undici') return 'undici (upstream client)';
    if (pkg === 'fastify-sse-v2' || pkg === 'it-pushable' || pkg === 'it-to-stream') return 'fastify-sse-v2';
    if (pkg.includes('fastify') || pkg.startsWith('@fastify') || pkg === 'find-my-way' || pkg === 'light-my-request' || pkg === 'avvio') return 'fastify';
    if (pkg === 'ajv' || pkg.startsWith('@sinclair')) return 'validation';
    return `other: ${pkg}`;
  }
  if (url.startsWith('node:')) return `node: ${url.slice(5).split('/')[0]}`;
  return 'other';
}

/**
 * Reads a .cpuprofile and summarizes it; with `windowUs` (monotonic clock, µs, the clock V8 stamps
 * samples with and process.hrtime reads) only the samples inside it count, so start-up is left out.
 */
export function summarizeProfile(file: string, top = 20, windowUs?: [number, number]): ProfileSummary {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  let t = prof.startTime;
  prof.samples.forEach((id, i) => {
    const dt = prof.timeDeltas[i] ?? 0;
    t += dt;
    if (windowUs && (t < windowUs[0] || t > windowUs[1])) return;
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
  });

  const key = (f: CallFrame): string => `${f.functionName || '(anonymous)'}\t${shortUrl(f.url)}:${f.lineNumber + 1}`;
  const self = new Map<string, number>();
  const areas = new Map<string, number>();
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    self.set(key(frame), (self.get(key(frame)) ?? 0) + us);
    areas.set(areaOf(frame), (areas.get(areaOf(frame)) ?? 0) + us);
  }
  const busyUs = [...self.values()].reduce((a, b) => a + b, 0);

  // Inclusive time per own function, counting a recursive function once per sample path.
  const inclusive = new Map<string, number>();
  const root = prof.nodes[0]!;
  const walk = (node: ProfileNode, onStack: Set<string>): number => {
    let total = selfUs.get(node.id) ?? 0;
    if (node.callFrame.functionName === '(idle)') return 0;
    const k = key(node.callFrame);
    const own = node.callFrame.url.includes('/dist/') && !onStack.has(k);
    if (own) onStack.add(k);
    for (const c of node.children ?? []) total += walk(byId.get(c)!, onStack);
    if (own) {
      onStack.delete(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + total);
    }
    return total;
  };
  walk(root, new Set());

  const entries = (m: Map<string, number>): ProfileEntry[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => {
        const [fn, where] = k.split('\t') as [string, string];
        return { fn, where, ms: Math.round(us / 1000), pct: Number(((us / busyUs) * 100).toFixed(1)) };
      });
  return {
    busyMs: Math.round(busyUs / 1000),
    idleMs: Math.round(idleUs / 1000),
    topSelf: entries(self),
    topInclusiveOwn: entries(inclusive),
    areas: [...areas.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([area, us]) => ({ area, ms: Math.round(us / 1000), pct: Number(((us / busyUs) * 100).toFixed(1)) })),
  };
}

/** Prints a summary as text tables. */
export function printProfile(s: ProfileSummary, top = 15): void {
  console.log(`\nCPU profile: ${s.busyMs} ms busy, ${s.idleMs} ms idle`);
  console.log('\nBy area (self time):');
  for (const a of s.areas.slice(0, 12)) console.log(`  ${a.pct.toFixed(1).padStart(5)}%  ${String(a.ms).padStart(6)} ms  ${a.area}`);
  console.log('\nTop functions by self time:');
  for (const e of s.topSelf.slice(0, top)) console.log(`  ${e.pct.toFixed(1).padStart(5)}%  ${String(e.ms).padStart(6)} ms  ${e.fn}  ${e.where}`);
  console.log("\nService's own functions by inclusive time:");
  for (const e of s.topInclusiveOwn.slice(0, top)) console.log(`  ${e.pct.toFixed(1).padStart(5)}%  ${String(e.ms).padStart(6)} ms  ${e.fn}  ${e.where}`);
}

/** Where a function is called from: its distinct call paths (innermost first) with the time spent under it. */
export function callersOf(file: string, functionName: string, windowUs?: [number, number], depth = 8): { ms: number; path: string }[] {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  let t = prof.startTime;
  prof.samples.forEach((id, i) => {
    const dt = prof.timeDeltas[i] ?? 0;
    t += dt;
    if (!windowUs || (t >= windowUs[0] && t <= windowUs[1])) selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
  });
  const total = (n: ProfileNode): number => (selfUs.get(n.id) ?? 0) + (n.children ?? []).reduce((a, c) => a + total(byId.get(c)!), 0);
  const paths = new Map<string, number>();
  for (const n of prof.nodes) {
    if (n.callFrame.functionName !== functionName) continue;
    const frames: string[] = [];
    for (let p = parent.get(n.id); p !== undefined && frames.length < depth; p = parent.get(p)) {
      const f = byId.get(p)!.callFrame;
      frames.push(`${f.functionName || '(anonymous)'} ${shortUrl(f.url)}:${f.lineNumber + 1}`);
    }
    const key = frames.join('\n    < ');
    paths.set(key, (paths.get(key) ?? 0) + total(n));
  }
  return [...paths.entries()].sort((a, b) => b[1] - a[1]).map(([path, us]) => ({ ms: Math.round(us / 1000), path }));
}
