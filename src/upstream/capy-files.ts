import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { AttachmentInvalidError, UpstreamError } from '../errors.js';
import { connectFailure, type Http } from './http.js';
import type { FileUpload, Session, UpstreamAttachment } from './types.js';

interface ImageReply {
  rid?: unknown;
  url?: unknown;
  meta?: unknown;
}

/** A form field as multipart text. */
function field(boundary: string, name: string, value: string): string {
  return `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
}

/**
 * Image upload of the capy dialect: `POST /api/resource/image` as multipart/form-data. The form
 * is framed around the file's byte stream with an exact Content-Length, so a large image is never
 * held whole in memory. The current web app uploads only images this way; documents are refused
 * with a clear 400 rather than dropped.
 */
export function createCapyFiles(http: Http) {
  async function uploadFile(session: Session, file: FileUpload, signal: AbortSignal): Promise<UpstreamAttachment> {
    if (!file.mime.startsWith('image/')) {
      throw new AttachmentInvalidError(`"${file.name}" (${file.mime}): the capy StepChat dialect reads images only; documents need STEP_DIALECT=yuewen`);
    }
    const boundary = `----stepgateway${randomBytes(12).toString('hex')}`;
    const safeName = file.name.replace(/["\r\n]/g, '_');
    const head = Buffer.from(
      field(boundary, 'scene_id', 'image') +
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
      path: '/api/resource/image',
      headers: {
        ...session.headers,
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'content-length': String(head.length + file.size + tail.length),
      },
      body,
      signal,
      what: 'UploadImage',
    });
    const reply = (await http.readJson(res, 'UploadImage', signal)) as ImageReply;
    if (res.statusCode < 200 || res.statusCode >= 300) throw connectFailure(res.statusCode, reply, 'UploadImage');
    if (typeof reply.rid !== 'string' || reply.rid === '') throw new UpstreamError('UploadImage returned no rid');
    const image = { rid: reply.rid, url: reply.url, meta: reply.meta, mimeType: file.mime };
    return { resource: { image }, rid: reply.rid };
  }

  return { uploadFile };
}
