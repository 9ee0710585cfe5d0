import { answerFor, searchResultsFor } from './answer.js';
import type { EmulatorCore } from './core.js';
import { endlessFault, openAnswerStream, readStreamRequest, sendFrames, trailerOnly, type DialectEvents } from './answer-stream.js';
import { MAX_PROMPT_CHARS, PROMPT_TOO_LONG, sendSources, SIGN_IN_NEEDED } from './answer-stream.js';
import { parseDirectives, type Directives } from './directives.js';
import { withEcho } from './echo.js';
import type { EnvelopeStream } from './envelope-writer.js';
import { header, sendJson, type ConnectError, type RouteHandler } from './http-util.js';
import type { Rng } from './prng.js';
import type { ReceivedMessage } from './types.js';
import { answeredFailure, checkConnect, checkSession, EMBEZZLED, oasisDevice } from './yuewen-auth.js';

// SendMessageStream of the yuewen dialect. Errors past the HTTP preamble travel
// the way Connect sends them on a stream: HTTP 200 and an error trailer.

const EXPIRED: ConnectError = { code: 'unauthenticated', message: 'token is expired' };
const BAD_REQUEST = 'request must be {"chatId","messageInfo":{"text"}}';
/** Yuewen events are top-level keys; its in-stream error is a message of its own. */
const YUEWEN_EVENTS: DialectEvents = {
  send: (stream, event) => stream.send(event),
  sendError: (stream) => stream.send({ error: { code: 'internal', message: withEcho('emulated upstream error') } }),
};

interface ParsedRequest {
  chatId: string;
  text: string;
  attachments: unknown[];
}

function parseRequest(body: unknown): ParsedRequest | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { chatId, messageInfo } = body as { chatId?: unknown; messageInfo?: unknown };
  if (typeof chatId !== 'string' || typeof messageInfo !== 'object' || messageInfo === null) return undefined;
  const { text, attachments } = messageInfo as { text?: unknown; attachments?: unknown };
  if (typeof text !== 'string') return undefined;
  if (attachments !== undefined && !Array.isArray(attachments)) return undefined;
  return { chatId, text, attachments: attachments ?? [] };
}

/** Streams the answer envelopes: start, search results, text frames, heartbeats, done, trailer. */
async function streamAnswer(
  core: EmulatorCore,
  stream: EnvelopeStream,
  rng: Rng,
  msg: ReceivedMessage,
  directives: Directives,
): Promise<void> {
  const frames = answerFor(msg.text, core.options.frames, undefined, core.chatContext(msg.chatId)?.texts);
  // The slow fault holds back even the response headers.
  if (directives.faults.has('slow')) await stream.sleep(directives.slowMs ?? core.options.slowMs);
  await stream.send({ startEvent: { messageId: core.nextId() } });
  if (directives.search) await sendSources(stream, YUEWEN_EVENTS, directives, {}, searchResultsFor(msg.text));
  if (!(await sendFrames(core, stream, rng, msg, frames, directives, YUEWEN_EVENTS))) return;
  await stream.send({ doneEvent: {} });
  await stream.end({});
}

/** The SendMessageStream handler. */
export function sendMessageStream(core: EmulatorCore): RouteHandler {
  return async (req, res) => {
    const { parsed, invalid } = await readStreamRequest(req, parseRequest, BAD_REQUEST);
    const msg: ReceivedMessage = {
      chatId: parsed?.chatId ?? '',
      text: parsed?.text ?? '',
      attachments: parsed?.attachments ?? [],
      deviceId: header(req, 'oasis-webid'),
      answer: '',
      model: null,
      searchEnabled: false,
    };
    core.messages.push(msg);
    if (answeredFailure(core, 'SendMessageStream', res)) return;
    if (!checkConnect(req, res, 'application/connect+json')) return;
    const deviceId = oasisDevice(req, res, 'yuewen');
    if (deviceId === undefined) return;
    const session = checkSession(core, req, deviceId);
    if (!session.ok && session.problem === EMBEZZLED.message) return sendJson(res, 401, EMBEZZLED);
    if (!session.ok) return trailerOnly(core, res, { code: 'unauthenticated', message: session.problem });
    if (session.token.account.signedOut) return trailerOnly(core, res, SIGN_IN_NEEDED);
    const directives = parseDirectives(msg.text);
    if (directives.faults.has('401')) return trailerOnly(core, res, EXPIRED);
    if (!parsed) return trailerOnly(core, res, invalid);
    if (parsed.text.length > MAX_PROMPT_CHARS) return trailerOnly(core, res, PROMPT_TOO_LONG);
    const account = session.token.account;
    if (!core.chatOwnedBy(parsed.chatId, account)) {
      return trailerOnly(core, res, { code: 'not_found', message: 'chat not found' });
    }
    if (await endlessFault(core, res, directives, YUEWEN_EVENTS)) return;
    core.recordTurn(msg);
    msg.model = account.model ?? null;
    msg.searchEnabled = account.searchEnabled;
    const { stream, rng } = openAnswerStream(core, res);
    await streamAnswer(core, stream, rng, msg, directives);
  };
}
