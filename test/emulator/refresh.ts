import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Account, EmulatorCore } from './core.js';
import { parseCookies, sendJson } from './http-util.js';

// The refresh both dialects share (yuewen RegisterDevice, capy RefreshToken), as strict as the
// real service: every success rotates the refresh token (the presented one is dead at once),
// the new values travel in the JSON body and in Set-Cookie, and after the first login only the
// browser's cookie form `<access>...<refresh>` is honoured.

/** The two halves of `Oasis-Token=<access>...<refresh>`; a bare value is a refresh token. */
export function splitOasisToken(value: string): { access: string; refresh: string } {
  // JWTs and random tokens hold no `...`; first/last split tolerates a stray one in either half.
  const first = value.indexOf('...');
  if (first < 0) return { access: '', refresh: value };
  return { access: value.slice(0, first), refresh: value.slice(value.lastIndexOf('...') + 3) };
}

/** Why a refresh was refused: unknown or rotated-away token, another device's, a bare rotated token, a foreign access half. */
export type RefreshRefusal = 'invalid' | 'embezzled' | 'bare' | 'mismatch';

export type RefreshOutcome = { ok: true; account: Account; access: string; refresh: string; webidRenewed: boolean } | { ok: false; refusal: RefreshRefusal };

/** Checks the session cookie of a refresh and, when it is honoured, rotates the account's tokens. */
export function refreshSession(core: EmulatorCore, req: IncomingMessage, deviceId: string): RefreshOutcome {
  const { access: presented, refresh } = splitOasisToken(parseCookies(req).get('Oasis-Token') ?? '');
  core.refreshCookies.push({ deviceId, form: presented ? 'pair' : 'bare' });
  const account = core.accountByRefreshToken(refresh);
  if (!account) {
    // A foreign device presenting a known user token is told so, rotated or not.
    const owner = core.accountByUserToken(refresh);
    return { ok: false, refusal: owner && owner.deviceId !== deviceId ? 'embezzled' : 'invalid' };
  }
  if (account.deviceId !== deviceId) return { ok: false, refusal: 'embezzled' };
  // Users may paste the bare token they logged in with; a rotated one only ever lives in the cookie pair.
  if (!presented && refresh !== account.userToken) return { ok: false, refusal: 'bare' };
  // The access half, when sent, must be one issued to this account (expired is fine).
  if (presented && core.findAccessToken(presented)?.account !== account) return { ok: false, refusal: 'mismatch' };
  const before = account.deviceId;
  const next = core.rotateRefreshToken(account);
  const access = core.issueAccessToken(account, { device_id: account.deviceId, deviceId: account.deviceId });
  return { ok: true, account, access: access.raw, refresh: next, webidRenewed: account.deviceId !== before };
}

/** Answers a honoured refresh: Set-Cookie `Oasis-Token` (and a renewed `Oasis-Webid`), and the body unless configured off. */
export function sendRefreshed(core: EmulatorCore, res: ServerResponse, done: Extract<RefreshOutcome, { ok: true }>): void {
  const cookies = [`Oasis-Token=${done.access}...${done.refresh}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax`];
  if (done.webidRenewed) cookies.push(`Oasis-Webid=${done.account.deviceId}; Path=/; Max-Age=31536000; SameSite=Lax`);
  res.setHeader('set-cookie', cookies);
  sendJson(res, 200, core.options.tokensInBody ? { accessToken: { raw: done.access }, refreshToken: { raw: done.refresh } } : {});
}
