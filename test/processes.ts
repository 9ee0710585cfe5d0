import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import OpenAI from 'openai';
import { after, before } from 'node:test';
import { startEmulator, type Emulator } from './emulator/index.js';
import { DIALECT, waitFor } from './helpers.js';

// Service processes and a real redis-server for the suites about replicas and crashes: what
// SIGKILL does to a process cannot be shown by an app inside the test's own process.

const ROOT = resolve(import.meta.dirname, '..');
export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

/** A TCP port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

async function until(check: () => Promise<boolean>, what: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}

export interface ServiceProcess {
  url: string;
  port: number;
  /** Everything the process wrote (stdout and stderr). */
  output(): string;
  client(apiKey: string): OpenAI;
  /** SIGKILL: no shutdown hook runs. */
  kill(): Promise<void>;
  /** SIGTERM and wait for the graceful exit. */
  stop(): Promise<void>;
}

/** Starts `src/server.ts` as its own process with `env` on a free port; resolves once /healthz answers. */
export async function spawnService(env: Record<string, string>): Promise<ServiceProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    // PRESSURE_MAX_EVENT_LOOP_DELAY_MS 0: a loaded 2-core machine lags the event loop past the 1 s
    // default and would shed the test's requests; load shedding has its own suite (ops.test.ts).
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', LOG_LEVEL: 'info', CONVERSATION_MODE: 'off', PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '0', ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (text += d.toString('utf8')));
  const url = `http://127.0.0.1:${port}`;
  await until(async () => {
    if (child.exitCode !== null) throw new Error(`service exited: ${text}`);
    return (await fetch(`${url}/healthz`)).ok;
  }, `service on ${port}`, 30_000).catch((err: Error) => {
    child.kill('SIGKILL');
    throw new Error(`${err.message}\n${text}`);
  });
  return {
    url,
    port,
    output: () => text,
    client: (apiKey) => new OpenAI({ apiKey, baseURL: `${url}/v1`, maxRetries: 0, timeout: 30_000 }),
    async kill() {
      child.kill('SIGKILL');
      await exited(child);
    },
    async stop() {
      child.kill('SIGTERM');
      await exited(child);
    },
  };
}

export interface RedisProcess {
  url: string;
  port: number;
  /** Stops the server (SIGKILL: as abrupt as a network cut); `start` brings it back on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

/** A real redis-server on a free port, with its files in a temporary directory. */
export async function startRedis(): Promise<RedisProcess> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'step-gateway-redis-'));
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    await until(async () => {
      if (child!.exitCode !== null) throw new Error('redis-server exited');
      return await ping(port);
    }, `redis-server on ${port}`, 10_000);
  };
  await start();
  const stop = async () => {
    if (!child) return;
    const c = child;
    child = undefined;
    c.kill('SIGKILL');
    await exited(c);
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop,
    start,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function ping(port: number): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((res) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('error', () => res(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (d) => {
      socket.destroy();
      res(d.toString().startsWith('+PONG'));
    });
  });
}

/** Waits (polling) until `check` holds; a margin wide enough for a loaded machine. */
export const eventually = (check: () => boolean, what: string, ms = 20_000) => waitFor(check, what, ms);

export interface ReplicaSet {
  emu: Emulator;
  redis: RedisProcess;
  /** The emulator's one account. */
  token: string;
  replicas: ServiceProcess[];
  /** One more replica like the others (its own DATA_DIR), added to `replicas`. */
  spawn(): Promise<ServiceProcess>;
}

/**
 * Inside `describe`: before its tests an emulator with one account (`frames` per answer), a real
 * redis-server and `count` replicas of the service sharing it (each with its own DATA_DIR and
 * `env`); after them, all stopped and the directories removed.
 */
export function replicaSuite(opts: { frames: number; env?: Record<string, string>; count?: number }): ReplicaSet {
  const dirs: string[] = [];
  const set = {
    token: '',
    replicas: [] as ServiceProcess[],
    async spawn() {
      const dataDir = mkdtempSync(join(tmpdir(), 'step-gateway-replica-'));
      dirs.push(dataDir);
      const replica = await spawnService({ STEP_DIALECT: DIALECT, STEP_BASE_URL: set.emu.url, DATA_DIR: dataDir, REDIS_URL: set.redis.url, ...opts.env });
      set.replicas.push(replica);
      return replica;
    },
  } as ReplicaSet;
  before(async () => {
    set.emu = await startEmulator({ dialect: DIALECT, frames: opts.frames });
    set.token = set.emu.addAccount().token;
    set.redis = await startRedis();
    for (let i = 0; i < (opts.count ?? 2); i++) await set.spawn();
  });
  after(async () => {
    for (const r of set.replicas) await r.stop();
    await set.redis?.close();
    await set.emu?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  return set;
}
