import { AttachmentUploadError, UpstreamError } from '../errors.js';
import { connectFailure, type Http } from './http.js';
import { pollUntil } from './poll.js';
import type { FilePollOptions, FileUpload, Session, UpstreamAttachment } from './types.js';

const FILE = '/api/proto.file.v1.FileService';
/** GetFileStatus values that mean the upstream gave up on the file (PROTOCOL.md). */
const FAILED_STATUSES = new Set([12, 22, 59, 404]);

interface FileStatus {
  fileStatus?: unknown;
  needFurtherCall?: unknown;
}

/** File upload of the yuewen dialect: `PUT /api/storage`, then `GetFileStatus` until processed. */
export function createYuewenFiles(http: Http) {
  async function uploadFile(session: Session, file: FileUpload, signal: AbortSignal, poll: FilePollOptions): Promise<UpstreamAttachment> {
    // The web app sends the string "undefined" where it knows no dimension (documents); so do we.
    const width = file.width === undefined ? 'undefined' : String(file.width);
    const height = file.height === undefined ? 'undefined' : String(file.height);
    const res = await http.send({
      method: 'PUT',
      path: `/api/storage?file_name=${encodeURIComponent(file.name)}`,
      headers: {
        ...session.headers,
        'content-type': file.mime,
        // Known up front, so a stream body goes out without being buffered to measure it.
        'content-length': String(file.size),
        'stepchat-meta-size': String(file.size),
        'stepchat-meta-width': width,
        'stepchat-meta-height': height,
      },
      body: file.body,
      signal,
      what: 'Upload',
    });
    const reply = (await http.readJson(res, 'Upload', signal)) as { id?: unknown };
    if (res.statusCode < 200 || res.statusCode >= 300) throw connectFailure(res.statusCode, reply, 'Upload');
    if ((typeof reply.id !== 'string' && typeof reply.id !== 'number') || reply.id === '') throw new UpstreamError('Upload returned no file id');
    const id = String(reply.id);

    await pollUntil(
      async () => {
        const status = await http.unary<FileStatus>(`${FILE}/GetFileStatus`, session.headers, { id }, 'GetFileStatus', signal);
        const code = Number(status.fileStatus ?? 0);
        if (FAILED_STATUSES.has(code)) throw new AttachmentUploadError(`"${file.name}": processing failed (file status ${code})`);
        // Connect JSON leaves out false booleans, so a missing needFurtherCall means done.
        return status.needFurtherCall === true ? undefined : true;
      },
      poll,
      signal,
      () => new AttachmentUploadError(`"${file.name}" was not processed within ${poll.deadlineMs} ms`),
    );
    return { attachmentType: file.mime, attachmentId: id, name: file.name, width, height, size: String(file.size) };
  }

  return { uploadFile };
}
