import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EmulatorCore, TokenCheck } from './core.js';
import type { Dialect, FailableCall } from './types.js';
import { webHeaderRefusal } from './web-headers.js';
import { withEcho } from './echo.js';
import { header, hasContentType, parseCookies, sendJson, type ConnectError } from './http-util.js';

// The checks every yuewen call shares. They answer the error themselves and
// return undefined, so handlers read as a sequence of early returns.

/** The upstream's reply when an `oasis-*` header is missing or names another device. */
export const EMBEZZLED: ConnectError = { code: 'unauthenticated', message: 'oasis-token is embezzled' };

/** Answers a queued `failNext` for this call, if one is waiting. */
export function answeredFailure(core: EmulatorCore, call: FailableCall, res: ServerResponse): boolean {
  const failure = core.takeFailure(call);
  if (!failure) return false;
  const html = (failure.body as { html?: unknown }).html;
  if (typeof html === 'string') {
    // A proxy's or WAF's error page instead of a Connect error.
    const page = Buffer.from(withEcho(html));
    res.writeHead(failure.status, { 'content-type': 'text/html; charset=utf-8', 'content-length': page.length });
    res.end(page);
    return true;
  }
  sendJson(res, failure.status, failure.body);
  return true;
}

/** Sends a unary Connect error with its HTTP status. */
export function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { code, message });
}

/**
 * POST, `Connect-Protocol-Version: 1` and the content type of the call kind;
 * answers 405/400/415 like a Connect server otherwise.
 */
export function checkConnect(req: IncomingMessage, res: ServerResponse, contentType: string): boolean {
  if (req.method !== 'POST') {
    res.setHeader('allow', 'POST');
    sendError(res, 405, 'unimplemented', `method ${req.method ?? ''} not allowed`);
    return false;
  }
  if (header(req, 'connect-protocol-version') !== '1') {
    sendError(res, 400, 'invalid_argument', 'missing required header: set Connect-Protocol-Version to "1"');
    return false;
  }
  if (!hasContentType(req, contentType)) {
    sendError(res, 415, 'invalid_argument', `invalid content-type: "${header(req, 'content-type')}"; expecting "${contentType}"`);
    return false;
  }
  return true;
}

/**
 * The device id the `oasis-*` headers name, or undefined after refusing the call: every call must
 * carry the web app's full header set of its dialect (web-headers.ts), as the real service wants.
 */
export function oasisDevice(req: IncomingMessage, res: ServerResponse, dialect: Dialect): string | undefined {
  const refusal = webHeaderRefusal(req.headers, dialect, `http://${header(req, 'host')}`);
  if (!refusal) return header(req, 'oasis-webid');
  sendJson(res, refusal.status, refusal.body);
  return undefined;
}

/** Checks the session cookie `Oasis-Token=<access>...<refresh>` of an `/api/...` call. */
export function checkSession(core: EmulatorCore, req: IncomingMessage, deviceId: string): TokenCheck {
  const cookie = parseCookies(req).get('Oasis-Token') ?? '';
  // Access tokens are JWTs (single dots) and never contain an empty segment, so
  // the first triple dot is the separator.
  const sep = cookie.indexOf('...');
  // A bare value is what the real service calls illegal (PROTOCOL.md, console API notes).
  if (sep < 0 && cookie !== '') return { ok: false, problem: 'token is illegal' };
  if (sep <= 0) return { ok: false, problem: 'token is invalid' };
  return core.checkAccessToken(cookie.slice(0, sep), cookie.slice(sep + 3), deviceId);
}
