import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Account, EmulatorCore } from './core.js';
import type { FailableCall } from './types.js';
import { parseJson, readBody, sendJson, type RouteHandler } from './http-util.js';
import { answeredFailure, checkConnect, checkSession, oasisDevice, sendError } from './yuewen-auth.js';
import { sendMessageStream } from './yuewen-stream.js';
import { refreshSession, sendRefreshed, type RefreshRefusal } from './refresh.js';
import { createUploadRoutes, UPLOAD_PATHS } from './yuewen-upload.js';

// Route handlers of the legacy `yuewen` dialect (PROTOCOL.md, "Dialect yuewen").

const PASSPORT = '/passport/proto.api.passport.v1.PassportService';
const CHAT = '/api/proto.chat.v1.ChatService';
const MESSAGE = '/api/proto.chat.v1.ChatMessageService';
const USER = '/api/proto.user.v1.UserService';

/** Paths of the yuewen calls, for tests that look through `requests`. */
export const YUEWEN_PATHS = {
  registerDevice: `${PASSPORT}/RegisterDevice`,
  createChat: `${CHAT}/CreateChat`,
  delChat: `${CHAT}/DelChat`,
  sendMessageStream: `${MESSAGE}/SendMessageStream`,
  setModelInUse: `${USER}/SetModelInUse`,
  enableSearch: `${USER}/EnableSearch`,
  disableSearch: `${USER}/DisableSearch`,
  ...UPLOAD_PATHS,
} as const;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A unary `/api/...` call with its preamble done: the JSON body object and the caller's account. */
type UnaryApi = (body: Record<string, unknown>, account: Account, res: ServerResponse) => void;

/** Builds a unary route from its handler (the upload routes get it passed in). */
export type UnaryApiFactory = typeof unaryApi;

function unaryApi(core: EmulatorCore, call: FailableCall | undefined, handle: UnaryApi): RouteHandler {
  return async (req: IncomingMessage, res: ServerResponse) => {
    const raw = await readBody(req);
    if (call && answeredFailure(core, call, res)) return;
    if (!checkConnect(req, res, 'application/json')) return;
    const deviceId = oasisDevice(req, res, 'yuewen');
    if (deviceId === undefined) return;
    const session = checkSession(core, req, deviceId);
    if (!session.ok) return sendError(res, 401, 'unauthenticated', session.problem);
    const body = parseJson(raw);
    if (!isObject(body)) return sendError(res, 400, 'invalid_argument', 'request body is not a JSON object');
    handle(body, session.token.account, res);
  };
}

const REFUSAL: Record<RefreshRefusal, string> = {
  invalid: 'token is invalid',
  mismatch: 'token is invalid',
  embezzled: 'oasis-token is embezzled',
  bare: 'token is illegal',
};

// Rotates strictly like capy's RefreshToken (refresh.ts): the user token logs in once.
function registerDevice(core: EmulatorCore): RouteHandler {
  return async (req, res) => {
    const raw = await readBody(req);
    await core.countRegisterDevice(res);
    if (answeredFailure(core, 'RegisterDevice', res)) return;
    if (!checkConnect(req, res, 'application/json')) return;
    const deviceId = oasisDevice(req, res, 'yuewen');
    if (deviceId === undefined) return;
    if (!isObject(parseJson(raw))) return sendError(res, 400, 'invalid_argument', 'request body is not a JSON object');
    const done = refreshSession(core, req, deviceId);
    if (!done.ok) return sendError(res, 401, 'unauthenticated', REFUSAL[done.refusal]);
    sendRefreshed(core, res, done);
  };
}

function createChat(core: EmulatorCore): RouteHandler {
  return unaryApi(core, 'CreateChat', (_body, account, res) => {
    sendJson(res, 200, { chatId: core.createChat(account) });
  });
}

function delChat(core: EmulatorCore): RouteHandler {
  return unaryApi(core, 'DelChat', (body, account, res) => {
    const ids = body.chatIds;
    if (!Array.isArray(ids) || !ids.every((id): id is string => typeof id === 'string')) {
      return sendError(res, 400, 'invalid_argument', 'chatIds must be an array of strings');
    }
    core.deleteChats(ids, account);
    sendJson(res, 200, {});
  });
}

// The exact SetModelInUse body is not known publicly; keep whichever id field arrives.
function setModelInUse(core: EmulatorCore): RouteHandler {
  return unaryApi(core, undefined, (body, account, res) => {
    const model = body.modelId ?? body.model ?? body.modelName;
    if (model === undefined) return sendError(res, 400, 'invalid_argument', 'model id missing');
    account.model = String(model);
    sendJson(res, 200, {});
  });
}

function setSearch(core: EmulatorCore, enabled: boolean): RouteHandler {
  return unaryApi(core, undefined, (_body, account, res) => {
    account.searchEnabled = enabled;
    sendJson(res, 200, {});
  });
}

/** The yuewen routes, keyed by path. */
export function createYuewenRoutes(core: EmulatorCore): Map<string, RouteHandler> {
  return new Map<string, RouteHandler>([
    [YUEWEN_PATHS.registerDevice, registerDevice(core)],
    [YUEWEN_PATHS.createChat, createChat(core)],
    [YUEWEN_PATHS.delChat, delChat(core)],
    [YUEWEN_PATHS.sendMessageStream, sendMessageStream(core)],
    [YUEWEN_PATHS.setModelInUse, setModelInUse(core)],
    [YUEWEN_PATHS.enableSearch, setSearch(core, true)],
    [YUEWEN_PATHS.disableSearch, setSearch(core, false)],
    ...createUploadRoutes(core, unaryApi),
  ]);
}
