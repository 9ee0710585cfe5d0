import type { FastifyBaseLogger } from 'fastify';
import pino from 'pino';
import type { Config } from '../config.js';
import { createCredentialStore } from '../accounts/credential-store.js';
import { parseCredential } from '../accounts/credentials.js';
import { createTokenPool } from '../accounts/token-pool.js';
import { createUpstream } from '../upstream/client.js';
import { upstreamStatus } from '../upstream/http.js';
import type { Session } from '../upstream/types.js';

/** One line of the doctor's report. */
export interface DoctorRow {
  call: string;
  verdict: 'OK' | 'FAIL' | 'SKIP';
  /** `ok`, the upstream's HTTP status, or the error code when no reply came. */
  status: string;
  ms: number;
  /** What the call returned: ids hidden, event kinds counted, unknown kinds named. */
  seen: string;
  /** A secret-free hint on what to do about a failure. */
  hint: string;
}

// A 1×1 transparent PNG: the smallest image every dialect takes.
const PIXEL = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');

const CALLS = {
  capy: { login: 'RefreshToken', models: 'GetChatConfig', create: 'CreateChatSession', send: 'ChatStream', remove: 'DeleteChatSession', upload: 'UploadImage' },
  yuewen: { login: 'RegisterDevice', models: 'model list', create: 'CreateChat', send: 'SendMessageStream', remove: 'DelChat', upload: 'Upload + GetFileStatus' },
} as const;

function hintFor(err: unknown): string {
  const e = err as { code?: string };
  const status = upstreamStatus(err);
  if (status === 404) return 'the upstream has no such endpoint: it may have been renamed (protocol drift); see PROTOCOL.md';
  switch (e?.code) {
    case 'STEP_TOKEN_REJECTED':
    case 'STEP_UPSTREAM_UNAUTHENTICATED':
      return 'the account token is rejected: copy a fresh Oasis-Token and deviceId from the browser (README, "Getting a token")';
    case 'STEP_UPSTREAM_TIMEOUT':
      return 'no answer in time: check STEP_BASE_URL, the network and UPSTREAM_*_TIMEOUT_MS';
    case 'STEP_UPSTREAM_RATE_LIMITED':
      return 'the account is rate-limited: wait and retry';
    case 'STEP_ATTACHMENT_INVALID':
    case 'STEP_ATTACHMENT_UPLOAD':
      return 'the upstream did not take the file: uploads may have changed';
    default:
      if (status !== undefined && status >= 500) return 'the upstream failed: retry later';
      if (status !== undefined) return `the upstream refused the call (${status}): its protocol may have changed`;
      return 'the upstream could not be reached or answered something unexpected: check STEP_BASE_URL and STEP_DIALECT';
  }
}

/**
 * Runs each upstream call once with one account — refresh, model list, create chat, a one-word
 * message, delete chat, a 1×1 PNG upload — and reports each call's verdict. Uses (and updates)
 * the credential store under DATA_DIR like the service, so a rotated refresh token is kept.
 * Nothing it returns holds a token: error texts are redacted before they leave.
 */
export async function runDoctor(config: Config, token: string): Promise<{ ok: boolean; rows: DoctorRow[]; dialect: string; origin: string }> {
  const cred = parseCredential(token);
  if (!cred) throw new Error('the token must be deviceId@Oasis-Token (the browser cookie value or the refresh token)');
  const secrets = [cred.secret, cred.access, cred.deviceId].filter((s): s is string => !!s && s.length >= 6);
  const redact = (text: string) => {
    let out = text.replace(/eyJ[\w-]+\.[\w-]+(\.[\w-]+)?/g, '<jwt>');
    for (const s of secrets) out = out.split(s).join('<secret>');
    return out;
  };
  const silent = pino({ level: 'silent' }) as unknown as FastifyBaseLogger;
  const upstream = createUpstream(config, { warn: () => undefined });
  const { dialect, drift, http } = upstream;
  const pool = createTokenPool({
    dialect,
    store: createCredentialStore(config.DATA_DIR, silent, `${config.STEP_DIALECT}\n${http.origin}`),
    refreshMarginMs: config.TOKEN_REFRESH_MARGIN_MS,
  });
  const names = CALLS[config.STEP_DIALECT];
  const rows: DoctorRow[] = [];
  let blocked: string | undefined;

  async function step<T>(call: string, run: () => Promise<T>, describe: (value: T) => string): Promise<T | undefined> {
    if (blocked) {
      rows.push({ call, verdict: 'SKIP', status: '-', ms: 0, seen: '', hint: `needs ${blocked}` });
      return undefined;
    }
    const started = performance.now();
    try {
      const value = await run();
      rows.push({ call, verdict: 'OK', status: 'ok', ms: Math.round(performance.now() - started), seen: redact(describe(value)), hint: '' });
      return value;
    } catch (err) {
      const e = err as { code?: string; message?: string };
      const status = String(upstreamStatus(err) ?? e?.code ?? 'error');
      rows.push({ call, verdict: 'FAIL', status, ms: Math.round(performance.now() - started), seen: redact(String(e?.message ?? err)).slice(0, 160), hint: hintFor(err) });
      return undefined;
    }
  }

  try {
    const session = await step(names.login, () => pool.session(cred), (s: Session) => `session until ${new Date(s.expiresAt).toISOString()}${s.rotatedSecret ? ', refresh token rotated (stored)' : ''}`);
    if (!session) blocked = names.login;
    if (dialect.listModels) await step(names.models, () => dialect.listModels!(session!, AbortSignal.timeout(10_000)), (m) => `${m.length} models`);
    else rows.push({ call: names.models, verdict: 'SKIP', status: '-', ms: 0, seen: '', hint: `the ${dialect.name} dialect has no model list call` });
    const chatId = await step(names.create, () => dialect.createChat(session!), () => 'chat created');
    const wasBlocked = blocked;
    if (chatId === undefined) blocked ??= names.create;
    await step(
      names.send,
      async () => {
        const counts = new Map<string, number>();
        const before = drift.unknownEvents();
        const events = await dialect.sendMessage(session!, chatId!, { text: 'Hi', attachments: [], model: dialect.defaultModel, search: false }, AbortSignal.timeout(60_000));
        for await (const batch of events) for (const e of batch) counts.set(e.type, (counts.get(e.type) ?? 0) + 1);
        const unknown = Object.entries(drift.unknownEvents()).filter(([name, n]) => n > (before[name] ?? 0)).map(([name]) => name);
        return { counts, unknown };
      },
      ({ counts, unknown }) => [...[...counts].map(([type, n]) => `${type}×${n}`), ...(unknown.length ? [`unknown: ${unknown.join(', ')}`] : [])].join(', '),
    );
    await step(names.remove, () => dialect.deleteChat(session!, chatId!), () => 'chat deleted');
    blocked = wasBlocked;
    const poll = { initialMs: config.ATTACHMENT_POLL_INITIAL_MS, maxMs: config.ATTACHMENT_POLL_MAX_MS, deadlineMs: config.ATTACHMENT_POLL_DEADLINE_MS };
    if (dialect.uploadFile) {
      await step(
        names.upload,
        () => dialect.uploadFile!(session!, { name: 'doctor.png', mime: 'image/png', size: PIXEL.length, body: PIXEL, width: 1, height: 1 }, AbortSignal.timeout(60_000), poll),
        () => '1×1 PNG stored',
      );
    }
  } finally {
    await http.close();
  }
  return { ok: rows.every((r) => r.verdict !== 'FAIL'), rows, dialect: dialect.name, origin: http.origin };
}

/** The report as a plain-text table. */
export function formatReport(report: Awaited<ReturnType<typeof runDoctor>>): string {
  const header = ['call', 'verdict', 'status', 'ms', 'seen / hint'];
  const lines = report.rows.map((r) => [r.call, r.verdict, r.status, String(r.ms), [r.seen, r.hint].filter(Boolean).join(' — ')]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const row = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  const failed = report.rows.filter((r) => r.verdict === 'FAIL').map((r) => r.call);
  return [
    `StepChat doctor — dialect ${report.dialect}, upstream ${report.origin}`,
    row(header),
    ...lines.map(row),
    failed.length ? `FAILED: ${failed.join(', ')}` : 'All upstream calls work.',
  ].join('\n');
}
