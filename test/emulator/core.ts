import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { DEFAULT_MODELS } from './capy-models.js';
import { mulberry32, randomSeed, type Rng } from './prng.js';
import { numericId, type ConnectError } from './http-util.js';
import type { StreamEnd } from './envelope-writer.js';
import type {
  AccountFault,
  ChatContext,
  EmulatorOptions,
  EmulatorStats,
  FailableCall,
  ReceivedMessage,
  ReceivedUpload,
  RecordedRequest,
  ResolvedOptions,
} from './types.js';

// Dialect-independent state: accounts, access tokens, chats, counters and queued
// failures. Dialects (yuewen*.ts, capy*.ts) only translate wire shapes onto it.

/** A user credential: the `deviceId@userToken` pair the gateway is configured with. */
export interface Account {
  deviceId: string;
  userToken: string;
  revoked: boolean;
  /** Account settings the legacy dialect changes with UserService calls. */
  model: string | undefined;
  searchEnabled: boolean;
  /** The one refresh token that works now: the user token until the first refresh rotates it. */
  refreshToken: string;
  /** The next refresh hands out a new device id (Set-Cookie `Oasis-Webid`), as the web app sometimes does. */
  renewWebid: boolean;
  /** Signed out upstream: its streams end in `CODE_ACCOUNT_NEED_SIGN_IN` (refresh still works). */
  signedOut: boolean;
}

/** An issued access token. */
export interface AccessToken {
  raw: string;
  account: Account;
  expiresAt: number;
  /** The refresh token issued with it: the pair `<access>...<refresh>` the browser holds. */
  refresh: string;
}

/** Why an access token was refused, in the upstream's own words. */
export type TokenProblem = 'token is invalid' | 'token is expired' | 'oasis-token is embezzled' | 'token is illegal';

export type TokenCheck = { ok: true; token: AccessToken } | { ok: false; problem: TokenProblem };

export interface FailureSpec {
  status: number;
  body: object;
}

const DEFAULT_FAILURE: ConnectError = { code: 'internal', message: 'emulated failure' };

function resolveOptions(opts: EmulatorOptions): ResolvedOptions {
  return {
    dialect: opts.dialect ?? 'yuewen',
    accessTtlMs: opts.accessTtlMs ?? 900_000,
    opaqueAccessTokens: opts.opaqueAccessTokens ?? false,
    fragment: opts.fragment ?? true,
    frames: opts.frames ?? 20,
    frameDelayMs: opts.frameDelayMs ?? 0,
    slowMs: opts.slowMs ?? 3000,
    models: [...(opts.models ?? DEFAULT_MODELS)],
    seed: opts.seed ?? randomSeed(),
    uploadPolls: opts.uploadPolls ?? 2,
    uploadProcessingMs: opts.uploadProcessingMs ?? 0,
    uploadFailStatus: opts.uploadFailStatus ?? 0,
    tokensInBody: opts.tokensInBody ?? true,
    removedCalls: [...(opts.removedCalls ?? [])],
    echoCredentials: opts.echoCredentials ?? false,
    drift: opts.drift ?? false,
    loginDelayMs: opts.loginDelayMs ?? 0,
  };
}

function base64url(bytes: number): string {
  return randomBytes(bytes).toString('base64url');
}

// JWT-shaped so a gateway that peeks at `exp` works; the server-side expiry in
// `expiresAt` is what counts, which lets tests expire tokens behind the gateway's back.
// `claims` defaults to yuewen's `device_id`; capy names it `deviceId`, and its guest
// tokens say `activated: false`.
export function accessTokenRaw(expiresAt: number, claims: object): string {
  const head = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
  const payload = Buffer.from(
    JSON.stringify({
      activated: true,
      ...claims,
      exp: Math.floor(expiresAt / 1000),
      iat: Math.floor(Date.now() / 1000),
      jti: base64url(9),
    }),
  ).toString('base64url');
  return `${head}.${payload}.${base64url(32)}`;
}

function emptyCounters(): Omit<EmulatorStats, 'liveChats' | 'activeStreams'> {
  return {
    registerDevice: 0,
    maxConcurrentLogins: 0,
    guestTokens: 0,
    chatsCreated: 0,
    chatsDeleted: 0,
    streamsStarted: 0,
    streamsCompleted: 0,
    streamsAborted: 0,
    maxActiveStreams: 0,
    lastAbortAt: null,
  };
}

/** Builds the shared emulator state. */
export function createCore(initial: EmulatorOptions = {}) {
  const options = resolveOptions(initial);
  let rng: Rng = mulberry32(options.seed);
  const accounts = new Map<string, Account>();
  const tokens = new Map<string, AccessToken>();
  const chats = new Map<string, Account>();
  /** What each live chat has been told so far: the upstream answers in that context. */
  const contexts = new Map<string, ChatContext>();
  const failures = new Map<FailableCall, FailureSpec[]>();
  const messages: ReceivedMessage[] = [];
  const requests: RecordedRequest[] = [];
  const uploads: ReceivedUpload[] = [];
  /** The form of each refresh's Oasis-Token cookie: `pair` = `<access>...<refresh>`, `bare` = refresh token alone. */
  const refreshCookies: { deviceId: string; form: 'pair' | 'bare' }[] = [];
  /** Current refresh token -> account; a rotated-away token is no longer a key. */
  const byRefreshToken = new Map<string, Account>();
  const activeStreams = new Set<object>();
  /** Per-device faults (faultAccount), kept across reset() like the accounts they belong to. */
  const accountFaults = new Map<string, AccountFault>();
  let counters = emptyCounters();
  let loginsInFlight = 0;
  let idCounter = 0;

  function addAccount(deviceId?: string, userToken?: string) {
    const token = userToken ?? `ut_${base64url(24)}`;
    const account: Account = {
      deviceId: deviceId ?? randomBytes(16).toString('hex'),
      userToken: token,
      revoked: false,
      model: undefined,
      searchEnabled: false,
      refreshToken: token,
      renewWebid: false,
      signedOut: false,
    };
    // Re-adding an account restarts its refresh chain at the user token.
    const previous = accounts.get(token);
    if (previous) byRefreshToken.delete(previous.refreshToken);
    accounts.set(account.userToken, account);
    byRefreshToken.set(token, account);
    // What the browser's Cookies panel shows after a login: `<access>...<refresh>`.
    const access = issueAccessToken(account, { device_id: account.deviceId, deviceId: account.deviceId });
    return {
      token: `${account.deviceId}@${account.userToken}`,
      browserToken: `${account.deviceId}@${access.raw}...${account.userToken}`,
      deviceId: account.deviceId,
      userToken: account.userToken,
    };
  }

  function signOut(userToken: string): void {
    const account = accounts.get(userToken);
    if (account) account.signedOut = true;
  }

  function revokeAccount(userToken: string): void {
    const account = accounts.get(userToken);
    if (account) account.revoked = true;
  }

  /** The live account owning a user (refresh) token, if any. */
  function accountByUserToken(userToken: string): Account | undefined {
    const account = accounts.get(userToken);
    return account && !account.revoked ? account : undefined;
  }

  /** The live account whose current refresh token this is (capy: old rotated tokens are not). */
  function accountByRefreshToken(raw: string): Account | undefined {
    const account = byRefreshToken.get(raw);
    return account && !account.revoked ? account : undefined;
  }

  /** Strict rotation: a new refresh token, the previous one dead at once; a pending device renewal happens with it. */
  function rotateRefreshToken(account: Account): string {
    byRefreshToken.delete(account.refreshToken);
    account.refreshToken = `rt_${base64url(24)}`;
    byRefreshToken.set(account.refreshToken, account);
    if (account.renewWebid) {
      account.renewWebid = false;
      account.deviceId = randomBytes(16).toString('hex');
    }
    return account.refreshToken;
  }

  /** The next refresh of the account now on this device also hands out a new device id. */
  function renewDeviceId(deviceId: string): void {
    for (const account of accounts.values()) if (account.deviceId === deviceId && !account.revoked) account.renewWebid = true;
  }

  /** The device id of the account whose current refresh token this is. */
  function deviceOf(refreshToken: string): string | undefined {
    return byRefreshToken.get(refreshToken)?.deviceId;
  }

  /** The refresh token that works now for the latest live account on this device. */
  function currentRefreshToken(deviceId: string): string | undefined {
    let found: string | undefined;
    for (const account of accounts.values()) {
      if (account.deviceId === deviceId && !account.revoked) found = account.refreshToken;
    }
    return found;
  }

  function issueAccessToken(account: Account, claims: object = { device_id: account.deviceId }): AccessToken {
    const expiresAt = Date.now() + options.accessTtlMs;
    // Opaque tokens carry no `exp`: the gateway must assume a lifetime (ACCESS_TOKEN_TTL_MS).
    const raw = options.opaqueAccessTokens ? `at_${base64url(32)}` : accessTokenRaw(expiresAt, claims);
    const token: AccessToken = { raw, account, expiresAt, refresh: account.refreshToken };
    tokens.set(token.raw, token);
    return token;
  }

  /** Checks an access token against the device that presents it. */
  function checkAccessToken(raw: string, refreshRaw: string, deviceId: string): TokenCheck {
    const token = tokens.get(raw);
    if (!token || token.refresh !== refreshRaw) return { ok: false, problem: 'token is invalid' };
    if (token.account.deviceId !== deviceId) return { ok: false, problem: 'oasis-token is embezzled' };
    if (Date.now() >= token.expiresAt) return { ok: false, problem: 'token is expired' };
    return { ok: true, token };
  }

  /** An issued (activated) access token, expired or not; guest tokens are never stored. */
  function findAccessToken(raw: string): AccessToken | undefined {
    return tokens.get(raw);
  }

  function expireAccessTokens(): void {
    const now = Date.now();
    for (const token of tokens.values()) token.expiresAt = Math.min(token.expiresAt, now);
  }

  function createChat(owner: Account): string {
    const chatId = nextId();
    chats.set(chatId, owner);
    contexts.set(chatId, { texts: [], attachments: [] });
    counters.chatsCreated++;
    return chatId;
  }

  function chatOwnedBy(chatId: string, owner: Account): boolean {
    return chats.get(chatId) === owner;
  }

  /** Deletes the chats the account owns; returns how many went. */
  function deleteChats(chatIds: readonly string[], owner: Account): number {
    let deleted = 0;
    for (const id of new Set(chatIds)) {
      if (chats.get(id) !== owner) continue;
      chats.delete(id);
      contexts.delete(id);
      deleted++;
    }
    counters.chatsDeleted += deleted;
    return deleted;
  }

  /** Adds a message to its chat's context and records, on the message, the context it is answered in. */
  function recordTurn(msg: ReceivedMessage): void {
    const context = contexts.get(msg.chatId);
    if (!context) return;
    context.texts.push(msg.text);
    context.attachments.push(...msg.attachments);
    msg.turn = context.texts.length;
    msg.contextAttachments = [...context.attachments];
  }

  function nextId(): string {
    idCounter = (idCounter + 1) % 1_000_000;
    return numericId(idCounter);
  }

  function failNext(call: FailableCall, status: number, body?: object): void {
    const queue = failures.get(call) ?? [];
    queue.push({ status, body: body ?? DEFAULT_FAILURE });
    failures.set(call, queue);
  }

  /** The queued failure for this call, consumed. */
  function takeFailure(call: FailableCall): FailureSpec | undefined {
    return failures.get(call)?.shift();
  }

  /** Sets (or, with undefined, clears) the fault every call of this device meets. */
  function faultAccount(deviceId: string, fault: AccountFault | undefined): void {
    if (fault) accountFaults.set(deviceId, fault);
    else accountFaults.delete(deviceId);
  }

  /** The fault a call of this device to this path meets, if any. */
  function accountFault(deviceId: string, path: string): AccountFault | undefined {
    const fault = accountFaults.get(deviceId);
    if (!fault) return undefined;
    const call = path.slice(path.lastIndexOf('/') + 1);
    return !fault.calls || fault.calls.includes(call) ? fault : undefined;
  }

  /** Counts a stream as started and returns the callback that counts how it settled. */
  function trackStream(): (how: StreamEnd) => void {
    const handle = {};
    activeStreams.add(handle);
    counters.streamsStarted++;
    counters.maxActiveStreams = Math.max(counters.maxActiveStreams, activeStreams.size);
    return (how) => {
      if (!activeStreams.delete(handle)) return;
      if (how === 'ended') counters.streamsCompleted++;
      if (how === 'aborted') {
        counters.streamsAborted++;
        counters.lastAbortAt = Date.now();
      }
    };
  }

  function stats(): EmulatorStats {
    return { ...counters, liveChats: chats.size, activeStreams: activeStreams.size };
  }

  function configure(patch: Partial<EmulatorOptions>): void {
    if (patch.dialect !== undefined && patch.dialect !== options.dialect) {
      throw new Error(`cannot switch dialect of a running emulator from ${options.dialect} to ${patch.dialect}`);
    }
    const { port: _port, dialect: _dialect, ...rest } = patch;
    // Only known keys: the control API passes whatever JSON it was sent.
    for (const [key, value] of Object.entries(rest)) {
      if (value !== undefined && key in options) Object.assign(options, { [key]: value });
    }
    if (patch.seed !== undefined) rng = mulberry32(patch.seed);
  }

  // Chats go too, so liveChats stays created - deleted; arrays are cleared in place
  // because tests may hold a reference to them.
  function reset(): void {
    counters = emptyCounters();
    messages.length = 0;
    requests.length = 0;
    uploads.length = 0;
    refreshCookies.length = 0;
    chats.clear();
    contexts.clear();
    failures.clear();
  }

  return {
    options,
    messages,
    requests,
    uploads,
    refreshCookies,
    /** A per-stream seed drawn from the emulator PRNG, so one seed replays a whole run. */
    streamSeed: (): number => Math.floor(rng() * 2 ** 32),
    nextId,
    addAccount,
    revokeAccount,
    signOut,
    accountByUserToken,
    accountByRefreshToken,
    rotateRefreshToken,
    renewDeviceId,
    deviceOf,
    currentRefreshToken,
    issueAccessToken,
    findAccessToken,
    checkAccessToken,
    expireAccessTokens,
    createChat,
    chatOwnedBy,
    recordTurn,
    /** The context of a live chat (undefined once deleted). */
    chatContext: (chatId: string): ChatContext | undefined => contexts.get(chatId),
    deleteChats,
    failNext,
    takeFailure,
    faultAccount,
    accountFault,
    trackStream,
    /** Counts an access-token request, in progress until its response closes; waits loginDelayMs. */
    countRegisterDevice: async (res: ServerResponse): Promise<void> => {
      counters.registerDevice++;
      loginsInFlight++;
      counters.maxConcurrentLogins = Math.max(counters.maxConcurrentLogins, loginsInFlight);
      res.once('close', () => loginsInFlight--);
      if (options.loginDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, options.loginDelayMs));
    },
    countGuestToken: (): void => {
      counters.guestTokens++;
    },
    stats,
    configure,
    reset,
  };
}

/** The shared state every dialect works on. */
export type EmulatorCore = ReturnType<typeof createCore>;
