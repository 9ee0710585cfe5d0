import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EmulatorCore } from './core.js';
import { parseJson, readBody, sendJson } from './http-util.js';
import type { AccountFault, EmulatorOptions, FailableCall } from './types.js';

// The control API lets benchmarks and soak runs drive an emulator in another
// process the way in-process tests drive the Emulator object. No auth: it only
// ever listens on 127.0.0.1.

/** Prefix of the control API. */
export const CONTROL_PREFIX = '/__emulator/';

const CALLS: readonly FailableCall[] = ['RegisterDevice', 'CreateChat', 'SendMessageStream', 'DelChat', 'Upload', 'GetFileStatus'];
const CAPY_CALLS: readonly FailableCall[] = [
  'RefreshToken',
  'CreateChatSession',
  'ChatStream',
  'DeleteChatSession',
  'GetChatConfig',
  'UploadImage',
  'UploadDocument',
];

type ControlAction = (body: Record<string, unknown>) => unknown;

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function actions(core: EmulatorCore): Map<string, ControlAction> {
  return new Map<string, ControlAction>([
    ['GET stats', () => core.stats()],
    ['GET messages', () => core.messages],
    ['GET requests', () => core.requests],
    ['GET uploads', () => core.uploads],
    // Out-of-process tests need the rotated refresh token the in-process ones read directly.
    [
      'POST refresh-token',
      (b) => ({ refreshToken: core.currentRefreshToken(optionalString(b.deviceId) ?? '') ?? null }),
    ],
    ['POST accounts', (b) => core.addAccount(optionalString(b.deviceId), optionalString(b.userToken))],
    [
      'POST revoke',
      (b) => {
        const userToken = optionalString(b.userToken);
        if (userToken === undefined) throw new Error('userToken is required');
        core.revokeAccount(userToken);
        return {};
      },
    ],
    [
      'POST config',
      (b) => {
        core.configure(b as Partial<EmulatorOptions>);
        return core.options;
      },
    ],
    [
      'POST account-fault',
      (b) => {
        const deviceId = optionalString(b.deviceId);
        if (deviceId === undefined) throw new Error('deviceId is required');
        const fault = typeof b.fault === 'object' && b.fault !== null ? (b.fault as AccountFault) : undefined;
        core.faultAccount(deviceId, fault);
        return {};
      },
    ],
    ['POST reset', () => (core.reset(), {})],
    ['POST expire', () => (core.expireAccessTokens(), {})],
    [
      'POST fail-next',
      (b) => {
        const call = b.call as FailableCall;
        const known = CALLS.includes(call) || CAPY_CALLS.includes(call);
        if (!known || typeof b.status !== 'number') throw new Error('expecting {"call","status","body"?}');
        const body = typeof b.body === 'object' && b.body !== null ? b.body : undefined;
        core.failNext(call, b.status, body);
        return {};
      },
    ],
  ]);
}

/** Builds the handler of `/__emulator/...` requests. */
export function createControlHandler(core: EmulatorCore) {
  const table = actions(core);
  return async (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> => {
    const raw = await readBody(req);
    const action = table.get(`${req.method ?? ''} ${path.slice(CONTROL_PREFIX.length)}`);
    if (!action) return sendJson(res, 404, { code: 'not_found', message: `no control route ${req.method} ${path}` });
    const body = raw.length === 0 ? {} : parseJson(raw);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return sendJson(res, 400, { code: 'invalid_argument', message: 'body must be a JSON object' });
    }
    try {
      sendJson(res, 200, action(body as Record<string, unknown>));
    } catch (err) {
      sendJson(res, 400, { code: 'invalid_argument', message: (err as Error).message });
    }
  };
}
