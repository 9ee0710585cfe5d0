import { createHash } from 'node:crypto';
import type { Credential } from '../upstream/types.js';

/** A short fingerprint of a secret: stable across requests, useless to an attacker. */
export function fingerprint(secret: string): string {
  return createHash('sha256').update(secret).digest('base64url').slice(0, 10);
}

/** Parses one `deviceId@token`; undefined when it is not of that form. */
export function parseCredential(text: string): Credential | undefined {
  const at = text.indexOf('@');
  if (at <= 0 || at === text.length - 1) return undefined;
  const deviceId = text.slice(0, at).trim();
  const secret = text.slice(at + 1).trim();
  if (!deviceId || !secret || /[\s;,]/.test(deviceId) || /[\s;,]/.test(secret)) return undefined;
  const id = fingerprint(`${deviceId}@${secret}`);
  const { access, refresh } = splitOasisPair(secret);
  if (!refresh) return undefined;
  return { deviceId, secret: refresh, ...(access ? { access } : {}), id };
}

/** The browser's cookie value `<access>...<refresh>`: the refresh token is the part after the last `...`; a bare value is a refresh token. */
export function splitOasisPair(value: string): { access: string; refresh: string } {
  const first = value.indexOf('...');
  if (first < 0) return { access: '', refresh: value };
  return { access: value.slice(0, first), refresh: value.slice(value.lastIndexOf('...') + 3) };
}

/** Splits a comma-separated list, dropping empty entries. */
export function splitList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** The `Oasis-Token` cookie value the browser would send: `<access>...<refresh>`, or the bare refresh token before any access token is known. */
export function oasisCookie(cred: { secret: string; access?: string }): string {
  return cred.access ? `${cred.access}...${cred.secret}` : cred.secret;
}
