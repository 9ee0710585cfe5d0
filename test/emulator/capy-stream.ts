import { capyAnswerFor, capySearchEnabled, capySearchResultsFor, reasoningFor } from './capy-answer.js';
import { capyFailure, capySession, EXPIRED } from './capy-auth.js';
import { DEFAULT_MODEL } from './capy-models.js';
import type { EmulatorCore } from './core.js';
import { endlessFault, maybeNoise, openAnswerStream, readStreamRequest, sendFrames, trailerOnly, type DialectEvents } from './answer-stream.js';
import { MAX_PROMPT_CHARS, PROMPT_TOO_LONG, sendSources, SIGN_IN_NEEDED } from './answer-stream.js';
import { parseDirectives, type Directives } from './directives.js';
import { withEcho } from './echo.js';
import type { EnvelopeStream } from './envelope-writer.js';
import { header, sendJson, type RouteHandler } from './http-util.js';
import type { Rng } from './prng.js';
import type { ReceivedMessage } from './types.js';
import { checkConnect, EMBEZZLED, oasisDevice } from './yuewen-auth.js';

// ChatStream of the capy dialect. Every reply message is `{"data":{"event":{…}}}`
// with exactly one event key; errors past the HTTP preamble travel as HTTP 200
// and an error trailer, as Connect sends them on a stream.

const BAD_REQUEST = 'request must be {"message":{"chatSessionId","content":{"userMessage":{"qa":{"content"}}}}}';

interface CapyRequest {
  chatSessionId: string;
  text: string;
  attachments: unknown[];
  model: string;
  reasoning: boolean;
  search: boolean;
}

function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

// `config` counts only beside `message`: the real upstream silently ignores one
// nested inside `message`, and a gateway that puts it there must see defaults.
function parseRequest(body: unknown): CapyRequest | undefined {
  const message = field(body, 'message');
  const chatSessionId = field(message, 'chatSessionId');
  const qa = field(field(field(message, 'content'), 'userMessage'), 'qa');
  const text = field(qa, 'content');
  const attachments = field(qa, 'attachments');
  if (typeof chatSessionId !== 'string' || typeof text !== 'string') return undefined;
  if (attachments !== undefined && !Array.isArray(attachments)) return undefined;
  const config = field(body, 'config');
  const model = field(config, 'model');
  return {
    chatSessionId,
    text,
    attachments: attachments ?? [],
    model: typeof model === 'string' && model !== '' ? model : DEFAULT_MODEL,
    reasoning: field(config, 'enableReasoning') === true,
    search: field(config, 'enableSearch') === true,
  };
}

/** Capy events travel inside a `data.event` wrapper. */
const CAPY_EVENTS: DialectEvents = {
  send: (stream, event) => stream.send({ data: { event } }),
  sendError: (stream) => stream.send({ data: { event: { errorEvent: { message: withEcho('emulated upstream error') } } } }),
};
const sendEvent = CAPY_EVENTS.send;

async function streamReasoning(stream: EnvelopeStream, rng: Rng, text: string): Promise<void> {
  await sendEvent(stream, { pipelineEvent: { type: 'EVENT_TYPE_REASONING', action: 'start' } });
  for (const frame of reasoningFor(text)) {
    await maybeNoise(stream, rng, CAPY_EVENTS);
    await sendEvent(stream, { reasoningEvent: { text: frame } });
  }
  await sendEvent(stream, { pipelineEvent: { type: 'EVENT_TYPE_REASONING', action: 'end' } });
}

/** start, message, reasoning?, search?, text frames, messageDone, done, trailer. */
async function streamAnswer(
  core: EmulatorCore,
  stream: EnvelopeStream,
  rng: Rng,
  msg: ReceivedMessage,
  directives: Directives,
): Promise<void> {
  const frames = capyAnswerFor(msg.text, { search: msg.searchEnabled, frames: core.options.frames, context: core.chatContext(msg.chatId)?.texts });
  // The slow fault holds back even the response headers.
  if (directives.faults.has('slow')) await stream.sleep(directives.slowMs ?? core.options.slowMs);
  await sendEvent(stream, { startEvent: { messageId: core.nextId() } });
  await sendEvent(stream, { messageEvent: { message: { model: msg.model, meta: {} } } });
  if (msg.reasoning) await streamReasoning(stream, rng, msg.text);
  if (capySearchEnabled(msg.text, msg.searchEnabled)) {
    const results = capySearchResultsFor(msg.text);
    await sendSources(stream, CAPY_EVENTS, directives, { type: 'EVENT_TYPE_SEARCH', action: 'end' }, results);
  }
  if (!(await sendFrames(core, stream, rng, msg, frames, directives, CAPY_EVENTS))) return;
  await sendEvent(stream, { messageDoneEvent: {} });
  await sendEvent(stream, { doneEvent: {} });
  await stream.end({});
}

/** The ChatStream handler. */
export function chatStream(core: EmulatorCore): RouteHandler {
  return async (req, res) => {
    const { parsed, invalid } = await readStreamRequest(req, parseRequest, BAD_REQUEST);
    const msg: ReceivedMessage = {
      chatId: parsed?.chatSessionId ?? '',
      text: parsed?.text ?? '',
      attachments: parsed?.attachments ?? [],
      deviceId: header(req, 'oasis-webid'),
      answer: '',
      model: parsed?.model ?? null,
      searchEnabled: parsed?.search ?? false,
      reasoning: parsed?.reasoning ?? false,
    };
    core.messages.push(msg);
    if (capyFailure(core, 'ChatStream', res)) return;
    if (!checkConnect(req, res, 'application/connect+json')) return;
    const deviceId = oasisDevice(req, res, 'capy');
    if (deviceId === undefined) return;
    const session = capySession(core, req, deviceId);
    if (!session.ok && session.error === EMBEZZLED) return sendJson(res, 401, EMBEZZLED);
    if (!session.ok) return trailerOnly(core, res, session.error);
    if (session.token.account.signedOut) return trailerOnly(core, res, SIGN_IN_NEEDED);
    const directives = parseDirectives(msg.text);
    if (directives.faults.has('401')) return trailerOnly(core, res, EXPIRED);
    if (!parsed) return trailerOnly(core, res, invalid);
    if (parsed.text.length > MAX_PROMPT_CHARS) return trailerOnly(core, res, PROMPT_TOO_LONG);
    if (!core.options.models.includes(parsed.model)) {
      return trailerOnly(core, res, { code: 'invalid_argument', message: 'unknown model' });
    }
    if (!core.chatOwnedBy(parsed.chatSessionId, session.token.account)) {
      return trailerOnly(core, res, { code: 'not_found', message: 'chat session not found' });
    }
    if (await endlessFault(core, res, directives, CAPY_EVENTS)) return;
    core.recordTurn(msg);
    const { stream, rng } = openAnswerStream(core, res);
    await streamAnswer(core, stream, rng, msg, directives);
  };
}
