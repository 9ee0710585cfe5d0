import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { capyFailure, capyUnaryPreamble } from './capy-auth.js';
import { modelList } from './capy-models.js';
import { chatStream } from './capy-stream.js';
import { uploadDocument, uploadImage } from './capy-upload.js';
import { accessTokenRaw, type Account, type EmulatorCore } from './core.js';
import { parseJson, readBody, sendJson, type RouteHandler } from './http-util.js';
import { refreshSession, sendRefreshed } from './refresh.js';
import type { CapyFailableCall } from './types.js';
import { checkConnect, oasisDevice, sendError } from './yuewen-auth.js';

// Route handlers of the current `capy` dialect (PROTOCOL.md, "Dialect capy").

const PASSPORT = '/passport/proto.api.passport.v1.PassportService';
const AGENT = '/api/agent/capy.agent.v1.AgentService';

/** Paths of the capy calls, for tests that look through `requests`. */
export const CAPY_PATHS = {
  refreshToken: `${PASSPORT}/RefreshToken`,
  createChatSession: `${AGENT}/CreateChatSession`,
  chatStream: `${AGENT}/ChatStream`,
  deleteChatSession: `${AGENT}/DeleteChatSession`,
  getChatConfig: `${AGENT}/GetChatConfig`,
  uploadImage: '/api/resource/image',
  uploadDocument: '/api/resource/document',
} as const;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

type UnaryApi = (body: Record<string, unknown>, account: Account, res: ServerResponse) => void;

function unaryApi(core: EmulatorCore, call: CapyFailableCall, handle: UnaryApi): RouteHandler {
  return async (req: IncomingMessage, res: ServerResponse) => {
    const ok = await capyUnaryPreamble(core, call, 'application/json', req, res);
    if (!ok) return;
    const body = parseJson(ok.raw);
    if (!isObject(body)) return sendError(res, 400, 'invalid_argument', 'request body is not a JSON object');
    handle(body, ok.token.account, res);
  };
}

/** A guest pair, as the real upstream hands out for any refresh token it does not honour. */
function guestPair(core: EmulatorCore): { accessToken: { raw: string }; refreshToken: { raw: string } } {
  core.countGuestToken();
  const access = accessTokenRaw(Date.now() + core.options.accessTtlMs, { activated: false });
  return { accessToken: { raw: access }, refreshToken: { raw: `rt_${randomBytes(18).toString('base64url')}` } };
}

// Strict rotation (refresh.ts): each success retires the presented refresh token, so two
// concurrent refreshes with one token leave the loser holding a guest token. Any refusal
// (foreign device, bare rotated token, foreign access half) is a guest pair too.
function refreshToken(core: EmulatorCore): RouteHandler {
  return async (req, res) => {
    const raw = await readBody(req);
    await core.countRegisterDevice(res);
    if (capyFailure(core, 'RefreshToken', res)) return;
    if (!checkConnect(req, res, 'application/json')) return;
    const deviceId = oasisDevice(req, res, 'capy');
    if (deviceId === undefined) return;
    if (!isObject(parseJson(raw))) return sendError(res, 400, 'invalid_argument', 'request body is not a JSON object');
    const done = refreshSession(core, req, deviceId);
    if (!done.ok) return sendJson(res, 200, guestPair(core));
    sendRefreshed(core, res, done);
  };
}

function createChatSession(core: EmulatorCore): RouteHandler {
  return unaryApi(core, 'CreateChatSession', (_body, account, res) => {
    const chatSessionId = core.createChat(account);
    sendJson(res, 200, { chatSession: { chatSessionId, chatId: core.nextId() } });
  });
}

// Idempotent like yuewen's DelChat: a session that is already gone is not an error.
function deleteChatSession(core: EmulatorCore): RouteHandler {
  return unaryApi(core, 'DeleteChatSession', (body, account, res) => {
    const id = body.chatSessionId;
    if (typeof id !== 'string') return sendError(res, 400, 'invalid_argument', 'chatSessionId must be a string');
    core.deleteChats([id], account);
    sendJson(res, 200, {});
  });
}

function getChatConfig(core: EmulatorCore): RouteHandler {
  return unaryApi(core, 'GetChatConfig', (_body, _account, res) => {
    sendJson(res, 200, { modelList: modelList(core.options.models) });
  });
}

/** The capy routes, keyed by path. */
export function createCapyRoutes(core: EmulatorCore): Map<string, RouteHandler> {
  return new Map<string, RouteHandler>([
    [CAPY_PATHS.refreshToken, refreshToken(core)],
    [CAPY_PATHS.createChatSession, createChatSession(core)],
    [CAPY_PATHS.chatStream, chatStream(core)],
    [CAPY_PATHS.deleteChatSession, deleteChatSession(core)],
    [CAPY_PATHS.getChatConfig, getChatConfig(core)],
    [CAPY_PATHS.uploadImage, uploadImage(core)],
    [CAPY_PATHS.uploadDocument, uploadDocument(core)],
  ]);
}
