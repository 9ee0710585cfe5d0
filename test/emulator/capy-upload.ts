import { createHash } from 'node:crypto';
import { capyUnaryPreamble } from './capy-auth.js';
import type { EmulatorCore } from './core.js';
import { header, sendJson, type RouteHandler } from './http-util.js';
import { sendError } from './yuewen-auth.js';

// `POST /api/resource/image` and `/api/resource/document` of the capy dialect: a
// multipart form with `file`, `scene_id=image` (or `file`) and `mime_type`. Parsed by hand because the emulator takes no
// dependencies, and strictly enough that a malformed form from the gateway shows.

/** One part of a multipart body. */
interface FormPart {
  name: string;
  filename: string | undefined;
  contentType: string | undefined;
  data: Buffer;
}

function boundaryOf(contentType: string): string | undefined {
  const match = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return match?.[1] ?? match?.[2];
}

function partHeader(headers: string, name: string): string | undefined {
  const line = headers.split('\r\n').find((l) => l.toLowerCase().startsWith(`${name}:`));
  return line?.slice(name.length + 1).trim();
}

function dispositionParam(disposition: string, param: string): string | undefined {
  return new RegExp(`;\\s*${param}="([^"]*)"`, 'i').exec(disposition)?.[1];
}

/** The parts of a multipart/form-data body, or undefined if it is not well formed. */
export function parseMultipart(body: Buffer, boundary: string): FormPart[] | undefined {
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: FormPart[] = [];
  let pos = body.indexOf(delimiter);
  if (pos < 0) return undefined;
  for (;;) {
    pos += delimiter.length;
    if (body.subarray(pos, pos + 2).toString() === '--') return parts;
    if (body.subarray(pos, pos + 2).toString() !== '\r\n') return undefined;
    const headEnd = body.indexOf('\r\n\r\n', pos + 2);
    if (headEnd < 0) return undefined;
    const next = body.indexOf(Buffer.from(`\r\n--${boundary}`), headEnd + 4);
    if (next < 0) return undefined;
    const headers = body.subarray(pos + 2, headEnd).toString('utf8');
    const disposition = partHeader(headers, 'content-disposition') ?? '';
    const name = dispositionParam(disposition, 'name');
    if (name === undefined) return undefined;
    parts.push({
      name,
      filename: dispositionParam(disposition, 'filename'),
      contentType: partHeader(headers, 'content-type'),
      data: body.subarray(headEnd + 4, next),
    });
    pos = next + 2;
  }
}

/** Width and height read from a PNG or GIF header; 0 × 0 for anything else. */
function imageSize(data: Buffer): { width: number; height: number } {
  const png = data.length >= 24 && data.readUInt32BE(0) === 0x89504e47 && data.toString('latin1', 12, 16) === 'IHDR';
  if (png) return { width: data.readUInt32BE(16), height: data.readUInt32BE(20) };
  if (data.length >= 10 && data.toString('latin1', 0, 4) === 'GIF8') {
    return { width: data.readUInt16LE(6), height: data.readUInt16LE(8) };
  }
  return { width: 0, height: 0 };
}

/** Document types the upstream reads; others (archives, executables, unknown binaries) are refused. */
const DOCUMENT_TYPES = /^(application\/(pdf|msword|json|vnd\.openxmlformats-officedocument\.[\w.]+|vnd\.ms-[\w.]+)|text\/[\w.+-]+)$/;

type Scene = { scene: 'image'; call: 'UploadImage' } | { scene: 'file'; call: 'UploadDocument' };

/** The multipart upload handler of one scene: `/api/resource/image` or `/api/resource/document`. */
function upload(core: EmulatorCore, { scene, call }: Scene): RouteHandler {
  return async (req, res) => {
    const ok = await capyUnaryPreamble(core, call, 'multipart/form-data', req, res);
    if (!ok) return;
    const boundary = boundaryOf(header(req, 'content-type'));
    const parts = boundary === undefined ? undefined : parseMultipart(ok.raw, boundary);
    if (!parts) return sendError(res, 400, 'invalid_argument', 'malformed multipart/form-data body');
    const field = (name: string): FormPart | undefined => parts.find((p) => p.name === name);
    const file = field('file');
    const sceneId = field('scene_id')?.data.toString('utf8');
    if (!file || file.filename === undefined) return sendError(res, 400, 'invalid_argument', 'file part missing');
    if (sceneId !== scene) return sendError(res, 400, 'invalid_argument', `scene_id must be "${scene}", got ${sceneId}`);
    const mime = field('mime_type')?.data.toString('utf8') ?? file.contentType ?? 'application/octet-stream';
    if (scene === 'file' && !DOCUMENT_TYPES.test(mime)) return sendError(res, 400, 'invalid_argument', `unsupported document type ${mime}`);
    const size = file.data.length;
    core.uploads.push({ dialect: 'capy', name: file.filename, mime, size, sha256: createHash('sha256').update(file.data).digest('hex') });
    const rid = core.nextId();
    const meta = scene === 'image' ? { ...imageSize(file.data), size } : { size, name: file.filename };
    sendJson(res, 200, { rid, url: `https://emulator/res/${rid}`, meta });
  };
}

/** The image upload handler. */
export const uploadImage = (core: EmulatorCore): RouteHandler => upload(core, { scene: 'image', call: 'UploadImage' });

/** The document upload handler (`scene_id=file`). */
export const uploadDocument = (core: EmulatorCore): RouteHandler => upload(core, { scene: 'file', call: 'UploadDocument' });
