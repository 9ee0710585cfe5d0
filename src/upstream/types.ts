/** One StepChat account as the user supplied it (`deviceId@token`). */
export interface Credential {
  deviceId: string;
  secret: string;
  /** Short, non-reversible fingerprint used in logs and as the pool key. */
  id: string;
}

/** What a dialect needs to call the upstream on behalf of one account. */
export interface Session {
  headers: Record<string, string>;
  expiresAt: number;
}

export interface SearchResult {
  title: string;
  url: string;
  snippet?: string;
}

/** An attachment already stored upstream, in the dialect's own shape. */
export type UpstreamAttachment = Record<string, unknown>;

export interface OutgoingMessage {
  text: string;
  attachments: UpstreamAttachment[];
  model: string;
  search?: boolean;
  reasoning?: boolean;
}

export type UpstreamEvent =
  | { type: 'text'; text: string }
  | { type: 'reasoning'; text: string }
  | { type: 'search'; results: SearchResult[] }
  | { type: 'done' };

/** The calls every StepChat dialect provides; routes and translation only see this. */
export interface Dialect {
  readonly name: string;
  login(cred: Credential, signal?: AbortSignal): Promise<Session>;
  createChat(session: Session, signal?: AbortSignal): Promise<string>;
  sendMessage(session: Session, chatId: string, message: OutgoingMessage, signal?: AbortSignal): AsyncIterable<UpstreamEvent>;
  deleteChat(session: Session, chatId: string, signal?: AbortSignal): Promise<void>;
}
