import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createCapyRoutes } from './capy.js';
import { CONTROL_PREFIX, createControlHandler } from './control.js';
import { createCore, type EmulatorCore } from './core.js';
import { echoing } from './echo.js';
import { FILES_PREFIX, serveFile } from './file-server.js';
import { header, readBody, sendJson, type RouteHandler } from './http-util.js';
import type {
  AccountFault,
  ChatContext,
  Dialect,
  EmulatorOptions,
  EmulatorStats,
  FailableCall,
  ReceivedMessage,
  ReceivedUpload,
  RecordedRequest,
} from './types.js';
import { createYuewenRoutes } from './yuewen.js';

// The StepChat emulator: a real HTTP server speaking the upstream's wire protocol,
// written apart from src/ so that it checks the gateway instead of sharing its bugs.

export type { AccountFault, ChatContext, Dialect, EmulatorOptions, EmulatorStats, FailableCall, ReceivedMessage, RecordedRequest };
export type { ReceivedUpload };
export { answerFor, visibleAnswer, searchResultsFor, MARKER_PATTERN, type SearchResult } from './answer.js';
export { CALL_PROSE, INVENTED_RESULT, JSON_CHATTER } from './model-answer.js';
export { YUEWEN_PATHS } from './yuewen.js';
export { CAPY_PATHS } from './capy.js';
export { DEFAULT_MODELS } from './capy-models.js';
export {
  capyAnswerFor,
  capySearchResultsFor,
  reasoningFor,
  type CapyAnswerOptions,
  type CapySearchResult,
} from './capy-answer.js';
export { FILE_FIXTURES, generatedSlice, type FileFixture } from './file-fixtures.js';
export { yuewenUploads, type YuewenUpload } from './yuewen-upload.js';

/** A running emulator. */
export interface Emulator {
  /** e.g. http://127.0.0.1:41234 (no trailing slash). */
  url: string;
  /** Creates (or re-enables) an account; `token` is `${deviceId}@${userToken}`. */
  addAccount(deviceId?: string, userToken?: string): { token: string; browserToken: string; deviceId: string; userToken: string };
  /** From now on this account's answer streams end in `CODE_ACCOUNT_NEED_SIGN_IN` (its refresh still works). */
  signOut(userToken: string): void;
  /** From now on yuewen RegisterDevice with this user token fails 401; capy RefreshToken answers a guest pair. */
  revokeAccount(userToken: string): void;
  /** Every access token issued so far becomes expired now. */
  expireAccessTokens(): void;
  stats(): EmulatorStats;
  /** What a live chat was sent so far (texts and attachments); undefined once it was deleted. */
  chatContext(chatId: string): ChatContext | undefined;
  /** Every SendMessageStream (yuewen) / ChatStream (capy) request body received, in order. */
  messages: ReceivedMessage[];
  /** Every request but the control API's, in order. */
  requests: RecordedRequest[];
  /** Every file upload received, in order. */
  uploads: ReceivedUpload[];
  /** The Oasis-Token cookie form of every refresh (RefreshToken / RegisterDevice), in order. */
  refreshCookies: { deviceId: string; form: 'pair' | 'bare' }[];
  /** The refresh token that works now for this device (capy rotates it on every RefreshToken). */
  currentRefreshToken(deviceId: string): string | undefined;
  /** The next refresh of this device's account also sets a new `Oasis-Webid`; the old device id is then embezzled. */
  renewDeviceId(deviceId: string): void;
  /** The device id of the account whose current refresh token this is. */
  deviceOf(refreshToken: string): string | undefined;
  configure(opts: Partial<EmulatorOptions>): void;
  /** The next call of that kind answers `status` with `body` (default an `internal` Connect error). */
  failNext(call: FailableCall, status: number, body?: object): void;
  /**
   * Every call this device makes meets `fault` (an HTTP status, or a reset connection) until it is
   * cleared with undefined: an account that is rate-limited, failing or unreachable on its own.
   */
  faultAccount(deviceId: string, fault: AccountFault | undefined): void;
  /** Clears counters, messages, requests, chats and queued failures; keeps accounts and tokens. */
  reset(): void;
  close(): Promise<void>;
}

const DIALECTS: Record<Dialect, (core: EmulatorCore) => Map<string, RouteHandler>> = {
  yuewen: createYuewenRoutes,
  capy: createCapyRoutes,
};

/** Starts an emulator on 127.0.0.1 (port 0 unless `opts.port`). */
export async function startEmulator(opts: EmulatorOptions = {}): Promise<Emulator> {
  const core = createCore(opts);
  const routes = DIALECTS[core.options.dialect](core);
  const control = createControlHandler(core);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://emulator').pathname;
    if (path.startsWith(CONTROL_PREFIX)) return control(req, res, path);
    const record: RecordedRequest = { method: req.method ?? '', path, headers: { ...req.headers }, at: Date.now() };
    core.requests.push(record);
    res.once('finish', () => (record.status = res.statusCode));
    if (path.startsWith(FILES_PREFIX)) return serveFile(req, res, new URL(req.url ?? '/', 'http://emulator'));
    const fault = core.accountFault(header(req, 'oasis-webid'), path);
    if (fault) {
      await readBody(req);
      if (fault.reset) return void res.destroy();
      return sendJson(res, fault.status ?? 503, fault.body ?? { code: 'unavailable', message: 'emulated account failure' });
    }
    const route = core.options.removedCalls.includes(path.slice(path.lastIndexOf('/') + 1)) ? undefined : routes.get(path);
    if (route) return core.options.echoCredentials ? echoing(req, () => route(req, res)) : route(req, res);
    req.resume();
    sendJson(res, 404, { code: 'not_found', message: `no route for ${req.method} ${path}` });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // A client that left mid-body lands here too; nothing to answer then.
      if (!res.headersSent && !res.destroyed) {
        sendJson(res, 500, { code: 'internal', message: `emulator: ${(err as Error).message}` });
      } else {
        res.destroy();
      }
    });
  });
  // Small writes must leave at once, or fragmentation would be undone by Nagle.
  server.on('connection', (socket) => socket.setNoDelay(true));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    addAccount: core.addAccount,
    revokeAccount: core.revokeAccount,
    signOut: core.signOut,
    expireAccessTokens: core.expireAccessTokens,
    stats: core.stats,
    chatContext: core.chatContext,
    messages: core.messages,
    requests: core.requests,
    uploads: core.uploads,
    refreshCookies: core.refreshCookies,
    currentRefreshToken: core.currentRefreshToken,
    renewDeviceId: core.renewDeviceId,
    deviceOf: core.deviceOf,
    configure: core.configure,
    failNext: core.failNext,
    faultAccount: core.faultAccount,
    reset: core.reset,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Stalled streams and idle keep-alive sockets would hold close() forever.
        server.closeAllConnections();
      }),
  };
}
