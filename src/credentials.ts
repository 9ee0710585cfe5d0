import { createHash } from 'node:crypto';
import type { Credential } from './upstream/types.js';

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
  return { deviceId, secret, id: fingerprint(`${deviceId}@${secret}`) };
}

/** Splits a comma-separated list, dropping empty entries. */
export function splitList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
