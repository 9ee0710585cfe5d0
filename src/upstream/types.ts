import type { Readable } from 'node:stream';

/** One StepChat account as the user supplied it (`deviceId@token`). */
export interface Credential {
  deviceId: string;
  /** The refresh token. */
  secret: string;
  /** The access token that came with it (browser cookie `<access>...<refresh>`), if known. */
  access?: string;
  /** Short, non-reversible fingerprint used in logs and as the pool key. */
  id: string;
}

/** What a dialect needs to call the upstream on behalf of one account. */
export interface Session {
  /** The account's fingerprint (Credential.id), for per-account state and logs. */
  account: string;
  headers: Record<string, string>;
  expiresAt: number;
  /** The newest long-lived secret when the upstream rotated it; use it for the next login. */
  rotatedSecret?: string;
  /** The access token of this session, kept so the next refresh presents the whole cookie pair. */
  access?: string;
  /** A new device id the upstream set (Set-Cookie `Oasis-Webid`); it replaces the old one with the tokens. */
  deviceId?: string;
}

export interface SearchResult {
  title: string;
  url: string;
  snippet?: string;
}

/** An attachment already stored upstream, in the dialect's own shape. */
export type UpstreamAttachment = Record<string, unknown>;

/** A file on its way upstream: `body` streams exactly `size` bytes (a Buffer when already in memory). */
export interface FileUpload {
  name: string;
  mime: string;
  size: number;
  body: Readable | Buffer;
  width?: number;
  height?: number;
}

/** How long to wait for the upstream to process an uploaded file: first poll, backoff cap, deadline. */
export interface FilePollOptions {
  initialMs: number;
  maxMs: number;
  deadlineMs: number;
}

export interface OutgoingMessage {
  text: string;
  attachments: UpstreamAttachment[];
  model: string;
  search?: boolean;
  reasoning?: boolean;
  /**
   * How long the answer's network reads may be gathered into one batch (see EnvelopeFeed): for a
   * non-stream answer, which nobody reads as it comes. 0 or absent: a batch per read.
   */
  gatherMs?: number;
  /**
   * Uploads the request's files with the session of the account the completion runs on (uploads
   * are per account) and returns their records; called before the chat is created.
   */
  prepareAttachments?: (session: Session, signal: AbortSignal) => Promise<UpstreamAttachment[]>;
}

export type UpstreamEvent =
  | { type: 'text'; text: string }
  | { type: 'reasoning'; text: string }
  | { type: 'search'; results: SearchResult[] }
  /** The upstream withheld the rest of the answer (moderation, `riskEvent`). */
  | { type: 'filtered' }
  | { type: 'done' };

export interface UpstreamModel {
  id: string;
  description?: string;
}

/** The calls every StepChat dialect provides; routes and translation only see this. */
export interface Dialect {
  readonly name: string;
  /** The upstream model used when a request names none that is known. */
  readonly defaultModel: string;
  /** Models offered when the upstream cannot be asked. */
  readonly fallbackModels: string[];
  login(cred: Credential, signal?: AbortSignal): Promise<Session>;
  createChat(session: Session, signal?: AbortSignal): Promise<string>;
  /** Sends the message; the answer's events come a batch per network read. */
  sendMessage(session: Session, chatId: string, message: OutgoingMessage, signal?: AbortSignal): Promise<AsyncIterable<UpstreamEvent[]>>;
  deleteChat(session: Session, chatId: string, signal?: AbortSignal): Promise<void>;
  /** The upstream's model list, where the dialect can ask for it. */
  listModels?(session: Session, signal?: AbortSignal): Promise<UpstreamModel[]>;
  /** Stores a file with the account and waits until the upstream has processed it. */
  uploadFile?(session: Session, file: FileUpload, signal: AbortSignal, poll: FilePollOptions): Promise<UpstreamAttachment>;
}
