import { parseCredential, splitList } from './credentials.js';
import { MalformedTokenError } from '../errors.js';
import type { Credential } from '../upstream/types.js';

export interface ServerAccounts {
  /** The server-side pool (STEP_TOKENS), used when the client brings no StepChat token. */
  tokens: Credential[];
  /** Keys a client must present to use the server-side pool; empty = open. */
  apiKeys: string[];
}

/** Parses `deviceId@token` entries; the error says which entry is wrong, never what it holds. */
export function parseCredentialList(text: string): Credential[] {
  const parts = splitList(text);
  const seen = new Map<string, Credential>();
  parts.forEach((part, i) => {
    const cred = parseCredential(part);
    if (!cred) {
      throw new MalformedTokenError(
        `Token ${i + 1} of ${parts.length} is not of the form deviceId@Oasis-Token (the deviceId from localStorage, "@", then the Oasis-Token cookie)`,
      );
    }
    seen.set(cred.id, cred);
  });
  return [...seen.values()];
}

