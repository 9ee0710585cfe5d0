/** Upstream dialects the emulator can speak: legacy `yuewen` and the current `capy`. */
export type Dialect = 'yuewen' | 'capy';

/** Options of {@link startEmulator}; everything but `dialect` and `port` can change at run time. */
export interface EmulatorOptions {
  dialect?: Dialect;
  /** Access token lifetime, default 900_000. */
  accessTtlMs?: number;
  /** Issue access tokens that are not JWTs (no readable expiry), default false. */
  opaqueAccessTokens?: boolean;
  /** Random fragmentation/merging of stream bytes, default true. */
  fragment?: boolean;
  /** Number of textEvent frames per answer, default 20 (`#len:N` overrides per message). */
  frames?: number;
  /** Delay between frames, default 0 (writes still yield to the event loop). */
  frameDelayMs?: number;
  /** Delay used by `#fault:slow`, default 3000. */
  slowMs?: number;
  /** PRNG seed for fragmentation and event layout; default random. */
  seed?: number;
  /** TCP port on 127.0.0.1, default 0 (any free port). Only read at start. */
  port?: number;
  /** Model ids the upstream knows (capy GetChatConfig, ChatStream check); default the four seen live. */
  models?: string[];
  /** GetFileStatus answers `needFurtherCall: true` this many times per upload first, default 2. */
  uploadPolls?: number;
  /** An upload is also not ready before this many ms after it arrived, default 0. */
  uploadProcessingMs?: number;
  /** When not 0, the poll that would report an upload ready reports this failure status (12, 22, 59, 404), default 0. */
  uploadFailStatus?: number;
  /** Refresh replies carry the new tokens in the JSON body as well as in Set-Cookie, default true; false = Set-Cookie only. */
  tokensInBody?: boolean;
  /** Calls (last path segment, e.g. `EnableSearch`, `GetChatConfig`) answered 404 as if renamed upstream, default none. */
  removedCalls?: string[];
  /** Each access-token request (RegisterDevice / RefreshToken) waits this long before answering, default 0. */
  loginDelayMs?: number;
  /** Error messages quote the request's credentials (bare tokens and Cookie header), as a careless upstream might; default false. */
  echoCredentials?: boolean;
  /** Every answer drifts as with `#drift`, default false. */
  drift?: boolean;
}

/** Counters, as tests and the control API see them. */
export interface EmulatorStats {
  /** Access-token requests (yuewen RegisterDevice, capy RefreshToken), failed ones included. */
  registerDevice: number;
  /** The most access-token requests ever in progress at once. */
  maxConcurrentLogins: number;
  /** capy RefreshToken replies that carried a guest (`activated: false`) token. */
  guestTokens: number;
  chatsCreated: number;
  chatsDeleted: number;
  /** created - deleted. */
  liveChats: number;
  streamsStarted: number;
  streamsCompleted: number;
  /** The client closed the connection before the emulator finished. */
  streamsAborted: number;
  activeStreams: number;
  /** The most streams open at once since the start (or reset). */
  maxActiveStreams: number;
  /** Date.now() when a client last closed a stream connection early. */
  lastAbortAt: number | null;
}

/** One SendMessageStream request, recorded as it arrives; `answer` grows as frames are written. */
export interface ReceivedMessage {
  chatId: string;
  text: string;
  attachments: unknown[];
  deviceId: string;
  /** The answer text actually streamed (textEvent frames joined). */
  answer: string;
  /** yuewen: account settings (SetModelInUse / EnableSearch); capy: the request's `config`. */
  model: string | null;
  searchEnabled: boolean;
  /** capy only: `config.enableReasoning`. */
  reasoning?: boolean;
  /** Which message of its chat this is (1 = the chat's first), once accepted. */
  turn?: number;
  /** Every attachment of the chat so far, this message's included: what the answer can see. */
  contextAttachments?: unknown[];
}

/** What a live chat has been sent so far, in order. */
export interface ChatContext {
  texts: string[];
  attachments: unknown[];
}

/** One uploaded file, as any dialect received it. */
export interface ReceivedUpload {
  dialect: Dialect;
  name: string;
  mime: string;
  size: number;
  /** SHA-256 (hex) of the bytes received. */
  sha256?: string;
  // yuewen (`PUT /api/storage`, then GetFileStatus) records the rest.
  /** The file id it answered. */
  id?: string;
  /** Stepchat-Meta-Width / -Height as sent. */
  width?: string;
  height?: string;
  deviceId?: string;
  /** Date.now() when the last byte arrived. */
  uploadedAt?: number;
  /** Date.now() from when processing is over (uploadProcessingMs after uploadedAt). */
  readyAt?: number;
  /** Date.now() of each GetFileStatus poll. */
  polls?: number[];
}

/** Upstream calls that `failNext` can target. */
export type FailableCall =
  | 'RegisterDevice'
  | 'CreateChat'
  | 'SendMessageStream'
  | 'DelChat'
  | 'Upload'
  | 'GetFileStatus'
  | CapyFailableCall;

/** The capy calls `failNext` can target. */
export type CapyFailableCall =
  | 'RefreshToken'
  | 'CreateChatSession'
  | 'ChatStream'
  | 'DeleteChatSession'
  | 'GetChatConfig'
  | 'UploadImage'
  | 'UploadDocument';

/**
 * A fault that strikes every call a device makes (login, chats, streams, deletion, uploads) until
 * cleared: an HTTP status with a Connect error body, or `reset` (the connection is destroyed).
 * `calls` limits it to some call paths' last segment (e.g. `['ChatStream']`).
 */
export interface AccountFault {
  status?: number;
  body?: object;
  reset?: boolean;
  calls?: string[];
}

/** A request as received, for header assertions. */
export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** Date.now() when it arrived. */
  at: number;
  /** The HTTP status answered, once the reply was sent. */
  status?: number;
}

/** The resolved options the emulator runs with. */
export type ResolvedOptions = Required<Omit<EmulatorOptions, 'seed' | 'port'>> & { seed: number };
