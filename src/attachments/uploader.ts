import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import type { ChatMessage } from '../../schemas/chat.js';
import type { Config } from '../config.js';
import { AttachmentInvalidError, AttachmentUploadError, ClientGoneError } from '../errors.js';
import { messageAttachments, type AttachmentSource } from '../openai/prompt.js';
import type { Dialect, Session, UpstreamAttachment } from '../upstream/types.js';
import { createAddressPolicy } from './address-guard.js';
import type { InlineFiles } from './inline-refs.js';
import { createGcHint } from './gc-hint.js';
import { inlineFile } from './inline-file.js';
import { createOriginClient, httpUrl } from './origin.js';
import type { PreparedFile } from './prepared-file.js';
import { remoteFile } from './remote-file.js';

/** A request's attachments, checked and fetched far enough; uploaded once the account is known. */
export interface PreparedAttachments {
  /** Uploads every file with this session, in parallel; undefined when there is nothing to upload. */
  upload?: (session: Session, signal: AbortSignal) => Promise<UpstreamAttachment[]>;
  /** Closes origin streams and removes temporary files; call when the request is over. */
  dispose(): Promise<void>;
}

const NOTHING: PreparedAttachments = { dispose: async () => undefined };

/** The attachments of the latest user message; earlier turns' files were already seen upstream. */
export function latestUserAttachments(messages: ChatMessage[]): AttachmentSource[] {
  const at = messages.findLastIndex((m) => m.role === 'user');
  const content = messages[at]?.content;
  if (!Array.isArray(content)) return [];
  content.forEach((part, i) => {
    const p = part as { type: string; file_url?: { url?: string }; file?: { file_data?: string; file_id?: string } };
    if (p.type === 'file' && !p.file_url?.url && !p.file?.file_data) {
      const why = p.file?.file_id ? 'file_id (uploaded files) is not supported' : 'it needs file_url.url or file.file_data';
      throw new AttachmentInvalidError(`messages[${at}].content[${i}]: ${why}`);
    }
  });
  return messageAttachments(content);
}

/** Runs the tasks in parallel; the first failure aborts the rest and is thrown once all settled. */
async function allOrNothing<T>(tasks: ((signal: AbortSignal) => Promise<T>)[], signal: AbortSignal, discard?: (value: T) => Promise<void>): Promise<T[]> {
  const local = new AbortController();
  const either = AbortSignal.any([signal, local.signal]);
  let failure: { err: unknown } | undefined;
  const settled = await Promise.allSettled(
    tasks.map((task) =>
      Promise.resolve()
        .then(() => task(either))
        .catch((err: unknown) => {
          failure ??= { err };
          local.abort();
          throw err;
        }),
    ),
  );
  if (!failure) return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
  if (discard) await Promise.all(settled.flatMap((s) => (s.status === 'fulfilled' ? [discard(s.value)] : [])));
  throw failure.err;
}

/** Upstream failures of an upload become STEP_ATTACHMENT_UPLOAD (502) naming the file. */
function uploadFailure(err: unknown, name: string): unknown {
  const e = err as Error & { code?: string };
  if (e?.code === 'STEP_UPSTREAM' || e?.code === 'STEP_UPSTREAM_TIMEOUT') {
    return new AttachmentUploadError(`"${name}": ${e.message.replace(/^StepChat upstream error: /, '')}`);
  }
  return err;
}

/**
 * Takes the attachments of a request to the upstream: `prepare` decodes data URLs and opens
 * remote files (scheme, address guard, status, size, type) before any upstream chat exists, so
 * those errors come back at once; `upload` then stores them with the account's session.
 */
export function createAttachmentUploader(config: Config, dialect: Dialect) {
  const origin = createOriginClient({
    policy: createAddressPolicy(config.ATTACHMENT_ALLOW_HOSTS),
    timeoutMs: config.ATTACHMENT_FETCH_TIMEOUT_MS,
    maxRedirects: config.ATTACHMENT_MAX_REDIRECTS,
  });
  const tmpDir = config.ATTACHMENT_TMP_DIR || tmpdir();
  const maxBytes = config.ATTACHMENT_MAX_BYTES;
  const poll = { initialMs: config.ATTACHMENT_POLL_INITIAL_MS, maxMs: config.ATTACHMENT_POLL_MAX_MS, deadlineMs: config.ATTACHMENT_POLL_DEADLINE_MS };
  const live = new Set<PreparedFile>();
  const relayed = createGcHint(config.ATTACHMENT_GC_EVERY_BYTES);

  function prepareOne(source: AttachmentSource, index: number, signal: AbortSignal, inline: InlineFiles | undefined): Promise<PreparedFile> {
    const fallback = `${source.kind}-${index + 1}`;
    const text = source.url.trim();
    // Anything with a scheme but data: is a URL; httpUrl refuses all but http and https.
    if (/^[a-z][a-z0-9+.-]*:/i.test(text) && !/^data:/i.test(text)) {
      return remoteFile(origin, httpUrl(text), { maxBytes, timeoutMs: config.ATTACHMENT_FETCH_TIMEOUT_MS, tmpDir, relayed, filename: source.filename, fallback }, signal);
    }
    return inlineFile(text, { filename: source.filename, fallback, maxBytes, bare: source.inline, inline });
  }

  async function uploadOne(file: PreparedFile, session: Session, signal: AbortSignal): Promise<UpstreamAttachment> {
    const body = await file.open(signal);
    const { name, mime, size, width, height } = file;
    try {
      return await dialect.uploadFile!(session, { name, mime, size, width, height, body }, signal, poll);
    } catch (err) {
      if (body instanceof Readable) body.destroy();
      throw uploadFailure(err, name);
    }
  }

  /** `inline`: the data URLs the body's parser took out as it arrived (plugins/json-body.ts). */
  async function prepare(messages: ChatMessage[], signal: AbortSignal, inline?: InlineFiles): Promise<PreparedAttachments> {
    const sources = latestUserAttachments(messages);
    if (sources.length === 0) return NOTHING;
    if (sources.length > config.ATTACHMENT_MAX_COUNT) {
      throw new AttachmentInvalidError(`at most ${config.ATTACHMENT_MAX_COUNT} attachments per request, got ${sources.length}`);
    }
    if (!dialect.uploadFile) throw new AttachmentInvalidError(`the ${dialect.name} StepChat dialect takes no attachments`);
    const files = await allOrNothing(
      sources.map((s, i) => (sig: AbortSignal) => prepareOne(s, i, sig, inline)),
      signal,
      (f) => f.dispose(),
    );
    for (const f of files) live.add(f);
    const dispose = async () => {
      await Promise.all(files.map((f) => (live.delete(f), f.dispose())));
    };
    if (signal.aborted) {
      await dispose();
      throw new ClientGoneError();
    }
    return {
      upload: (session, sig) => allOrNothing(files.map((f) => (s: AbortSignal) => uploadOne(f, session, s)), sig),
      dispose,
    };
  }

  /** Stops fetching and removes what requests still hold (at shutdown). */
  async function close(): Promise<void> {
    await Promise.all([...live].map((f) => f.dispose()));
    live.clear();
    await origin.close();
  }

  return { prepare, close };
}
