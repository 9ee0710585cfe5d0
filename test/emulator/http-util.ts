import type { IncomingMessage, ServerResponse } from 'node:http';
import { withEcho } from './echo.js';

/** A Connect error body: `{"code","message"}`. */
export interface ConnectError {
  code: string;
  message: string;
  /** Connect error details; the upstream puts its own code in `debug.code`. */
  details?: { type: string; debug?: { code: string } }[];
}

const MAX_BODY = 64 * 1024 * 1024;

/** Reads the whole request body; uploads are the only large bodies and stay well under the cap. */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > MAX_BODY) throw new Error('request body too large');
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/** Parses JSON, or returns undefined, so handlers can answer a Connect error instead of throwing. */
export function parseJson(buf: Buffer): unknown {
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** Sends a unary JSON reply (the body of a Connect error too). */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const message = (body as { message?: unknown } | null)?.message;
  const echoed = status >= 400 && typeof message === 'string' ? { ...(body as object), message: withEcho(message) } : body;
  const payload = Buffer.from(JSON.stringify(echoed));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': payload.length });
  res.end(payload);
}

/** Single-valued header, as a string ('' when missing). */
export function header(req: IncomingMessage, name: string): string {
  const value = req.headers[name.toLowerCase()];
  return Array.isArray(value) ? (value[0] ?? '') : (value ?? '');
}

/** Cookie header to a map; values are percent-decoded when they decode, kept raw otherwise. */
export function parseCookies(req: IncomingMessage): Map<string, string> {
  const cookies = new Map<string, string>();
  const raw = req.headers.cookie;
  if (!raw) return cookies;
  for (const part of raw.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    try {
      value = decodeURIComponent(value);
    } catch {
      // Not percent-encoded after all; the raw value is what the client meant.
    }
    // The first occurrence wins, as in browsers' most-specific-path-first order.
    if (name && !cookies.has(name)) cookies.set(name, value);
  }
  return cookies;
}

/** Whether the Content-Type's media type (parameters ignored) is `type`. */
export function hasContentType(req: IncomingMessage, type: string): boolean {
  return header(req, 'content-type').split(';')[0]?.trim().toLowerCase() === type;
}

/** Real-looking random ids: numeric strings like StepChat's. */
export function numericId(counter: number): string {
  return `${Date.now()}${String(counter).padStart(6, '0')}`;
}

/** A route's handler; the body is still unread. */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;
