import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AccessToken, EmulatorCore } from './core.js';
import { parseCookies, readBody, type ConnectError } from './http-util.js';
import { splitOasisToken } from './refresh.js';
import type { CapyFailableCall, FailableCall } from './types.js';
import { answeredFailure, checkConnect, EMBEZZLED, oasisDevice, sendError } from './yuewen-auth.js';

// Credential checks of the capy dialect. The HTTP-level checks (POST, Connect
// version, oasis-* headers) are the same as yuewen's and are reused; what
// differs is the session: capy only looks at the access token, and refuses
// unknown, guest and expired ones alike with "token is expired".

/** capy's answer to any access token it will not take. */
export const EXPIRED: ConnectError = { code: 'unauthenticated', message: 'token is expired' };

// Suites written against either dialect queue failures by the yuewen names;
// each capy call honours its legacy counterpart too, its own name first.
const LEGACY_NAME: Partial<Record<CapyFailableCall, FailableCall>> = {
  RefreshToken: 'RegisterDevice',
  CreateChatSession: 'CreateChat',
  ChatStream: 'SendMessageStream',
  DeleteChatSession: 'DelChat',
};

/** Answers a queued `failNext` for this capy call (or its yuewen counterpart), if one is waiting. */
export function capyFailure(core: EmulatorCore, call: CapyFailableCall, res: ServerResponse): boolean {
  const legacy = LEGACY_NAME[call];
  return answeredFailure(core, call, res) || (legacy !== undefined && answeredFailure(core, legacy, res));
}

/** A bare value (no `<access>...<refresh>` pair) where an access token is due. */
export const ILLEGAL: ConnectError = { code: 'unauthenticated', message: 'token is illegal' };

export type CapySession = { ok: true; token: AccessToken } | { ok: false; error: ConnectError };

/** Checks the access half of the session cookie against the presenting device. */
export function capySession(core: EmulatorCore, req: IncomingMessage, deviceId: string): CapySession {
  const cookie = parseCookies(req).get('Oasis-Token') ?? '';
  if (cookie !== '' && !cookie.includes('...')) return { ok: false, error: ILLEGAL };
  const { access } = splitOasisToken(cookie);
  const token = access ? core.findAccessToken(access) : undefined;
  if (!token || Date.now() >= token.expiresAt) return { ok: false, error: EXPIRED };
  if (token.account.deviceId !== deviceId) return { ok: false, error: EMBEZZLED };
  return { ok: true, token };
}

/** What an authenticated capy call gets to work with. */
export interface CapyCall {
  raw: Buffer;
  deviceId: string;
  token: AccessToken;
}

/**
 * The preamble of a unary capy `/api/...` call: body read, queued failure,
 * Connect checks, oasis headers, session. Answers errors itself; undefined then.
 */
export async function capyUnaryPreamble(
  core: EmulatorCore,
  call: CapyFailableCall,
  contentType: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<CapyCall | undefined> {
  const raw = await readBody(req);
  if (capyFailure(core, call, res)) return undefined;
  if (!checkConnect(req, res, contentType)) return undefined;
  const deviceId = oasisDevice(req, res, 'capy');
  if (deviceId === undefined) return undefined;
  const session = capySession(core, req, deviceId);
  if (!session.ok) {
    sendError(res, 401, session.error.code, session.error.message);
    return undefined;
  }
  return { raw, deviceId, token: session.token };
}
