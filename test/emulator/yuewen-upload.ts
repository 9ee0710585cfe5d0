import { createHash } from 'node:crypto';
import type { EmulatorCore } from './core.js';
import { header, sendJson, type RouteHandler } from './http-util.js';
import type { ReceivedUpload } from './types.js';
import { answeredFailure, checkSession, oasisDevice, sendError } from './yuewen-auth.js';
import type { UnaryApiFactory } from './yuewen.js';

// File upload of the yuewen dialect: `PUT /api/storage?file_name=` takes the raw bytes,
// then GetFileStatus reports processing until the file is ready (or failed).

/** Paths of the upload calls. */
export const UPLOAD_PATHS = {
  upload: '/api/storage',
  getFileStatus: '/api/proto.file.v1.FileService/GetFileStatus',
} as const;

/** An upload as yuewen records it: every optional field of ReceivedUpload filled in. */
export type YuewenUpload = Required<ReceivedUpload>;

/** The yuewen uploads of a list, typed with their yuewen fields (for tests). */
export function yuewenUploads(uploads: readonly ReceivedUpload[]): YuewenUpload[] {
  return uploads.filter((u): u is YuewenUpload => u.dialect === 'yuewen' && u.polls !== undefined);
}

/** Status while processing and once ready; the failure ones come from `uploadFailStatus`. */
const PROCESSING = 2;
const READY = 1;

function upload(core: EmulatorCore): RouteHandler {
  return async (req, res) => {
    // Bytes are counted and hashed as they stream, never held: uploads can be 100 MiB.
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      hash.update(chunk as Buffer);
    }
    // Decided only after the whole body arrived, so a client never sees an answer mid-upload.
    if (answeredFailure(core, 'Upload', res)) return;
    if (req.method !== 'PUT') {
      res.setHeader('allow', 'PUT');
      return sendError(res, 405, 'unimplemented', `method ${req.method ?? ''} not allowed`);
    }
    const deviceId = oasisDevice(req, res, 'yuewen');
    if (deviceId === undefined) return;
    const session = checkSession(core, req, deviceId);
    if (!session.ok) return sendError(res, 401, 'unauthenticated', session.problem);
    const name = new URL(req.url ?? '/', 'http://emulator').searchParams.get('file_name');
    if (!name) return sendError(res, 400, 'invalid_argument', 'file_name is required');
    const declared = header(req, 'stepchat-meta-size');
    if (!/^\d+$/.test(declared)) return sendError(res, 400, 'invalid_argument', 'Stepchat-Meta-Size must be a byte count');
    if (Number(declared) !== size) {
      return sendError(res, 400, 'invalid_argument', `Stepchat-Meta-Size says ${declared} bytes but ${size} arrived`);
    }
    const now = Date.now();
    const record: YuewenUpload = {
      dialect: 'yuewen',
      id: core.nextId(),
      name,
      mime: header(req, 'content-type'),
      size,
      width: header(req, 'stepchat-meta-width'),
      height: header(req, 'stepchat-meta-height'),
      sha256: hash.digest('hex'),
      deviceId,
      uploadedAt: now,
      readyAt: now + core.options.uploadProcessingMs,
      polls: [],
    };
    core.uploads.push(record);
    sendJson(res, 200, { id: record.id });
  };
}

function getFileStatus(core: EmulatorCore, unaryApi: UnaryApiFactory): RouteHandler {
  return unaryApi(core, 'GetFileStatus', (body, account, res) => {
    // Files are per account: another account's id is as unknown as a made-up one.
    const file = yuewenUploads(core.uploads).find((u) => u.id === body.id && u.deviceId === account.deviceId);
    if (!file) return sendJson(res, 200, { fileStatus: 404, needFurtherCall: false });
    file.polls.push(Date.now());
    if (file.polls.length <= core.options.uploadPolls || Date.now() < file.readyAt) {
      return sendJson(res, 200, { fileStatus: PROCESSING, needFurtherCall: true });
    }
    // Connect JSON leaves out false booleans, as the real server does.
    const status = core.options.uploadFailStatus || READY;
    sendJson(res, 200, { fileStatus: status });
  });
}

/** The upload routes, for the yuewen route table. */
export function createUploadRoutes(core: EmulatorCore, unaryApi: UnaryApiFactory): [string, RouteHandler][] {
  return [
    [UPLOAD_PATHS.upload, upload(core)],
    [UPLOAD_PATHS.getFileStatus, getFileStatus(core, unaryApi)],
  ];
}
