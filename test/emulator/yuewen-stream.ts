import type { ServerResponse } from 'node:http';
import { answerFor, searchResultsFor } from './answer.js';
import type { EmulatorCore } from './core.js';
import { parseDirectives, type Directives, type Fault } from './directives.js';
import { decodeSingleEnvelope, EnvelopeStream } from './envelope-writer.js';
import { header, readBody, sendJson, type ConnectError, type RouteHandler } from './http-util.js';
import { mulberry32, type Rng } from './prng.js';
import type { ReceivedMessage } from './types.js';
import { answeredFailure, checkConnect, checkSession, EMBEZZLED, oasisDevice } from './yuewen-auth.js';

// SendMessageStream of the yuewen dialect. Errors past the HTTP preamble travel
// the way Connect sends them on a stream: HTTP 200 and an error trailer.

const EXPIRED: ConnectError = { code: 'unauthenticated', message: 'token is expired' };
const MID_STREAM_FAULTS: readonly Fault[] = ['error-event', 'error-trailer', 'reset', 'stall'];
/** Frames sent before a mid-stream fault strikes. */
const FAULT_AFTER_FRAMES = 3;

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

/** A reply that is nothing but an error trailer. */
async function trailerOnly(core: EmulatorCore, res: ServerResponse, error: ConnectError): Promise<void> {
  const stream = new EnvelopeStream(res, { rng: mulberry32(core.streamSeed()), fragment: core.options.fragment });
  await stream.end({ error });
}

async function applyFault(stream: EnvelopeStream, fault: Fault): Promise<void> {
  switch (fault) {
    case 'error-event':
      await stream.send({ error: { code: 'internal', message: 'emulated upstream error' } });
      return stream.end({});
    case 'error-trailer':
      return stream.end({ error: { code: 'internal', message: 'emulated trailer error' } });
    case 'reset':
      return stream.reset();
    default:
      return stream.waitForClose();
  }
}

/** Streams the answer envelopes: start, search results, text frames, heartbeats, done, trailer. */
async function streamAnswer(
  core: EmulatorCore,
  stream: EnvelopeStream,
  rng: Rng,
  msg: ReceivedMessage,
  directives: Directives,
): Promise<void> {
  const frames = answerFor(msg.text, core.options.frames);
  const delayMs = directives.delayMs ?? core.options.frameDelayMs;
  const fault = MID_STREAM_FAULTS.find((f) => directives.faults.has(f));
  const faultAt = Math.min(FAULT_AFTER_FRAMES, frames.length);
  // The slow fault holds back even the response headers.
  if (directives.faults.has('slow')) await stream.sleep(directives.slowMs ?? core.options.slowMs);
  await stream.send({ startEvent: { messageId: core.nextId() } });
  if (directives.search) {
    await stream.send({ pipelineEvent: { eventSearch: { results: searchResultsFor(msg.text) } } });
  }
  for (let i = 0; i <= frames.length && stream.open; i++) {
    if (fault && i === faultAt) return applyFault(stream, fault);
    const frame = frames[i];
    if (frame === undefined) break;
    if (i > 0 && delayMs > 0) await stream.sleep(delayMs);
    // Clients must ignore events they do not need and keys they do not know.
    if (rng() < 0.15) await stream.send({ heartBeatEvent: {} });
    if (rng() < 0.05) await stream.send({ unknownEvent: { note: 'clients must ignore this' } });
    await stream.send({ textEvent: { text: frame } });
    if (stream.open) msg.answer += frame;
  }
  await stream.send({ doneEvent: {} });
  await stream.end({});
}

/** The SendMessageStream handler. */
export function sendMessageStream(core: EmulatorCore): RouteHandler {
  return async (req, res) => {
    const raw = await readBody(req);
    const decoded = decodeSingleEnvelope(raw);
    const parsed = decoded.ok ? parseRequest(decoded.value) : undefined;
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
    const deviceId = oasisDevice(req, res);
    if (deviceId === undefined) return;
    const session = checkSession(core, req, deviceId);
    if (!session.ok && session.problem === EMBEZZLED.message) return sendJson(res, 401, EMBEZZLED);
    if (!session.ok) return trailerOnly(core, res, { code: 'unauthenticated', message: session.problem });
    const directives = parseDirectives(msg.text);
    if (directives.faults.has('401')) return trailerOnly(core, res, EXPIRED);
    if (!parsed) {
      const message = decoded.ok ? 'request must be {"chatId","messageInfo":{"text"}}' : decoded.message;
      return trailerOnly(core, res, { code: 'invalid_argument', message });
    }
    const account = session.token.account;
    if (!core.chatOwnedBy(parsed.chatId, account)) {
      return trailerOnly(core, res, { code: 'not_found', message: 'chat not found' });
    }
    msg.model = account.model ?? null;
    msg.searchEnabled = account.searchEnabled;
    const rng = mulberry32(core.streamSeed());
    const stream = new EnvelopeStream(res, { rng, fragment: core.options.fragment, onSettle: core.trackStream() });
    await streamAnswer(core, stream, rng, msg, directives);
  };
}
