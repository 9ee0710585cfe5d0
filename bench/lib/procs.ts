import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';

// Processes the bench and soak start: the emulator, the service and load clients. Every child is
// registered so that it is killed on exit, on error and on Ctrl-C; nothing else is ever signalled.

/** The repository root (bench/lib/../..). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Logs, profiles and soak results; ignored by git. */
export const OUT = join(ROOT, 'bench', 'out');
/**
 * The checkout whose service is measured: this one, or BENCH_SERVICE_DIR (another checkout, built
 * there, e.g. an older commit unpacked with `git archive`) for before/after comparisons.
 */
export const SERVICE_DIR = resolve(process.env.BENCH_SERVICE_DIR ?? ROOT);

const children = new Set<ChildProcess>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      console.error(`\n${sig}: stopping the processes this run started`);
      process.exit(130);
    });
  }
}

/** Spawns a tracked child process. */
export function track(command: string, args: string[], opts: Parameters<typeof spawn>[2]): ChildProcess {
  hookExit();
  const child = spawn(command, args, opts);
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Stops one child we started: `signal`, then SIGKILL after `graceMs`. */
export async function stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => ok(port));
    });
  });
}

export interface EmulatorProc {
  child: ChildProcess;
  pid: number;
  url: string;
  /** `deviceId@userToken` of the account the emulator CLI creates. */
  token: string;
}

/** Starts `test/emulator/cli.ts` in its own process and reads the `{url, token}` line it prints. */
export async function startEmulatorProc(dialect: string): Promise<EmulatorProc> {
  const nodeArgs = (process.env.BENCH_EMULATOR_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = track(process.execPath, [...nodeArgs, '--import', 'tsx', 'test/emulator/cli.ts'], {
    cwd: ROOT,
    env: { ...process.env, EMULATOR_PORT: '0', EMULATOR_DIALECT: dialect },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const first = await new Promise<string>((ok, fail) => {
    lines.once('line', ok);
    child.once('exit', (code) => fail(new Error(`emulator exited with ${code} before printing its address`)));
  });
  lines.on('line', () => undefined);
  const { url, token } = JSON.parse(first) as { url: string; token: string };
  return { child, pid: child.pid!, url, token };
}

/** The bare relay (bench/relay.ts) in its own process, logged in with `token`. */
export async function startRelayProc(upstream: string, dialect: string, token: string): Promise<{ child: ChildProcess; pid: number; url: string }> {
  const child = track(process.execPath, ['--import', 'tsx', 'bench/relay.ts'], {
    cwd: ROOT,
    env: { ...process.env, RELAY_UPSTREAM: upstream, RELAY_DIALECT: dialect, RELAY_TOKEN: token },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const first = await new Promise<string>((ok, fail) => {
    lines.once('line', ok);
    child.once('exit', (code) => fail(new Error(`relay exited with ${code} before printing its address`)));
  });
  lines.on('line', () => undefined);
  return { child, pid: child.pid!, url: (JSON.parse(first) as { url: string }).url };
}

export interface ServiceProc {
  child: ChildProcess;
  pid: number;
  url: string;
  logFile: string;
}

/**
 * Starts the built service (`node dist/src/server.js`) pointed at the emulator, on loopback, with
 * its log going to a file (as it would to a journal), and waits until GET /ping answers.
 */
export async function startServiceProc(opts: {
  upstream: string;
  dialect: string;
  name: string;
  nodeArgs?: string[];
  env?: Record<string, string>;
}): Promise<ServiceProc> {
  mkdirSync(OUT, { recursive: true });
  const port = await freePort();
  const logFile = join(OUT, `${opts.name}.log`);
  const fd = openSync(logFile, 'w');
  // Rotated credentials go to a fresh directory of this run, never the repository's ./data.
  const dataDir = join(OUT, 'data', opts.name);
  rmSync(dataDir, { recursive: true, force: true });
  // The node flags users run it with (`npm start`), plus BENCH_SERVICE_NODE_ARGS for experiments.
  const extra = (process.env.BENCH_SERVICE_NODE_ARGS ?? '').split(' ').filter(Boolean);
  // The probe path is absolute so that it resolves from another SERVICE_DIR too.
  const nodeArgs = (opts.nodeArgs ?? []).map((a) => (a.startsWith('./bench/') ? join(ROOT, a) : a));
  const child = track(process.execPath, [...startFlags(), ...extra, ...nodeArgs, 'dist/src/server.js'], {
    cwd: SERVICE_DIR,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      STEP_DIALECT: opts.dialect,
      STEP_BASE_URL: opts.upstream,
      LOG_LEVEL: 'info',
      DATA_DIR: dataDir,
      ...opts.env,
    },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const url = `http://127.0.0.1:${port}`;
  const until = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`service exited with ${child.exitCode}; see ${logFile}`);
    try {
      if ((await fetch(`${url}/ping`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) throw new Error(`service did not answer /ping within 15 s; see ${logFile}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, pid: child.pid!, url, logFile };
}

/** The node flags of package.json's `start` script (`node --expose-gc dist/src/server.js` → ['--expose-gc']). */
export function startFlags(): string[] {
  const pkg = JSON.parse(readFileSync(join(SERVICE_DIR, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
  const words = (pkg.scripts?.start ?? '').split(/\s+/);
  const node = words.indexOf('node');
  const script = words.indexOf('dist/src/server.js');
  return node === -1 || script <= node ? [] : words.slice(node + 1, script).filter((w) => w.startsWith('--'));
}

/** `npm run build`, so the service measured is the one users start. */
export function build(): void {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: SERVICE_DIR, stdio: 'inherit' });
}

let clockTicks: number | undefined;

/** CPU time (user + system) a process has used so far, in ms, from /proc/<pid>/stat. */
export function cpuMs(pid: number): number {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    throw new Error(`process ${pid} is gone (exited, or killed by something outside this run; see bench/out/*.log)`);
  }
  // Fields after "(comm)": state is field 3, utime 14, stime 15.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(rest[11]) + Number(rest[12])) * 1000) / clockTicks;
}

/** CPU time of the whole machine so far, in ms summed over cores: busy (user, system, irq) and stolen by the hypervisor. */
export function systemCpuMs(): { busy: number; steal: number } {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
  return { busy: ((user + nice + system + irq + softirq) * 1000) / clockTicks, steal: (steal * 1000) / clockTicks };
}

/** Resident set size of a process in MB, from /proc/<pid>/status. */
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

/** Anonymous (private) resident memory in MB: RSS without the mapped node binary and libraries. */
export function rssAnonMb(pid: number): number {
  const m = /RssAnon:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

/** Samples a process's RSS every `everyMs` and keeps the peak (and every sample, for the soak). */
export function rssSampler(pid: number, everyMs = 50) {
  let peak = 0;
  const samples: { at: number; mb: number }[] = [];
  const timer = setInterval(() => {
    try {
      const mb = rssMb(pid);
      peak = Math.max(peak, mb);
      samples.push({ at: Date.now(), mb });
    } catch {
      // the process is gone; the caller finds out elsewhere
    }
  }, everyMs);
  return {
    get peak() {
      return peak;
    },
    samples,
    reset() {
      peak = 0;
      samples.length = 0;
    },
    stop: () => clearInterval(timer),
  };
}
