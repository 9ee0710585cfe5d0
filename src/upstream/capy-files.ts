import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { AttachmentInvalidError, brief, UpstreamError } from '../errors.js';
import { connectFailure, type Http } from './http.js';
import type { FileUpload, Session, UpstreamAttachment } from './types.js';

interface UploadReply {
  rid?: unknown;
  url?: unknown;
  meta?: unknown;
  message?: unknown;
}

/** A form field as multipart text. */
function field(boundary: string, name: string, value: string): string {
  return `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
}

/** The two upload scenes of the web app: images, and documents (PROTOCOL.md, "Documents"). */
const SCENES = {
  image: { path: '/api/resource/image', scene: 'image', what: 'UploadImage' },
  doc: { path: '/api/resource/document', scene: 'file', what: 'UploadDocument' },
} as const;

/**
 * Uploads of the capy dialect: images to `POST /api/resource/image` (`scene_id=image`), anything
 * else as a document to `POST /api/resource/document` (`scene_id=file`), both multipart/form-data
 * with `file` and `mime_type`; attached as `resource.image` or `resource.doc`. The form is framed
 * around the file's byte stream with an exact Content-Length, so a large file is never held whole
 * in memory. A document the upstream refuses (400) is the client's 400.
 */
export function createCapyFiles(http: Http) {
  async function uploadFile(session: Session, file: FileUpload, signal: AbortSignal): Promise<UpstreamAttachment> {
    const kind = file.mime.startsWith('image/') ? 'image' : 'doc';
    const { path, scene, what } = SCENES[kind];
    const boundary = `----stepgateway${randomBytes(12).toString('hex')}`;
    const safeName = file.name.replace(/["\r\n]/g, '_');
    const head = Buffer.from(
      field(boundary, 'scene_id', scene) +
        field(boundary, 'mime_type', file.mime) +
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${safeName}"\r\nContent-Type: ${file.mime}\r\n\r\n`,
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const body = Buffer.isBuffer(file.body)
      ? Buffer.concat([head, file.body, tail])
      : Readable.from(
          (async function* () {
            yield head;
            yield* file.body as Readable;
            yield tail;
          })(),
          { objectMode: false },
        );
    const res = await http.send({
      path,
      headers: {
        ...session.headers,
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'content-length': String(head.length + file.size + tail.length),
      },
      body,
      signal,
      what,
    });
    const reply = (await http.readJson(res, what, signal)) as UploadReply;
    if (res.statusCode === 400 && kind === 'doc') {
      throw new AttachmentInvalidError(`"${file.name}" (${file.mime}): StepChat refused the document: ${brief(reply.message ?? 'invalid argument')}`);
    }
    if (res.statusCode < 200 || res.statusCode >= 300) throw connectFailure(res.statusCode, reply, what);
    if (typeof reply.rid !== 'string' || reply.rid === '') throw new UpstreamError(`${what} returned no rid`);
    const resource = { rid: reply.rid, url: reply.url, meta: reply.meta, mimeType: file.mime, ...(kind === 'doc' ? { name: file.name } : {}) };
    return { resource: { [kind]: resource }, rid: reply.rid };
  }

  return { uploadFile };
}
