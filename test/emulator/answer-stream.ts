import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EmulatorCore } from './core.js';
import { DRIFT_EVENTS, type Directives, type Fault } from './directives.js';
import { decodeSingleEnvelope, EnvelopeStream } from './envelope-writer.js';
import { readBody, type ConnectError } from './http-util.js';
import { mulberry32, type Rng } from './prng.js';
import type { ReceivedMessage } from './types.js';

// What both dialects' answer streams share: the paced text frames, the noise clients must
// tolerate, the mid-stream faults, and the reply that is only an error trailer. A dialect
// supplies how one of its events is wrapped.

const MID_STREAM_FAULTS: readonly Fault[] = ['error-event', 'error-trailer', 'reset', 'stall', 'risk'];
/** Text frames sent before a mid-stream fault strikes. */
const FAULT_AFTER_FRAMES = 3;

/** The longest prompt the upstream takes, and its answer to a longer one. */
export const MAX_PROMPT_CHARS = 120_000;
export const PROMPT_TOO_LONG: ConnectError = { code: 'invalid_argument', message: `prompt exceed max len ${MAX_PROMPT_CHARS}` };
/** What a signed-out account's stream gets (`emu.signOut`). */
export const SIGN_IN_NEEDED: ConnectError = {
  code: 'unauthenticated',
  message: 'account need sign in',
  details: [{ type: 'stepfun.common.v1.ErrorDetail', debug: { code: 'CODE_ACCOUNT_NEED_SIGN_IN' } }],
};

/** The search results, as a search pipelineEvent or (`#sourcing`) as a sourcingEvent. */
export async function sendSources(stream: EnvelopeStream, events: DialectEvents, directives: Directives, pipeline: Record<string, unknown>, results: unknown[]): Promise<void> {
  if (directives.sourcing) return events.send(stream, { sourcingEvent: { sources: results } });
  return events.send(stream, { pipelineEvent: { ...pipeline, eventSearch: { results } } });
}

/** How a dialect puts one event on the wire, and what its in-stream error looks like. */
export interface DialectEvents {
  send(stream: EnvelopeStream, event: Record<string, unknown>): Promise<void>;
  sendError(stream: EnvelopeStream): Promise<void>;
}

/**
 * Reads a stream request's one envelope and parses it with the dialect's parser. `invalid` is the
 * error to answer when it does not parse: the envelope's own problem, or what the body must be.
 */
export async function readStreamRequest<T>(
  req: IncomingMessage,
  parse: (body: unknown) => T | undefined,
  usage: string,
): Promise<{ parsed: T | undefined; invalid: ConnectError }> {
  const decoded = decodeSingleEnvelope(await readBody(req));
  const parsed = decoded.ok ? parse(decoded.value) : undefined;
  return { parsed, invalid: { code: 'invalid_argument', message: decoded.ok ? usage : decoded.message } };
}

/** The answer stream of an accepted request, counted while open, with its own random sequence. */
export function openAnswerStream(core: EmulatorCore, res: ServerResponse): { stream: EnvelopeStream; rng: Rng } {
  const rng = mulberry32(core.streamSeed());
  return { rng, stream: new EnvelopeStream(res, { rng, fragment: core.options.fragment, onSettle: core.trackStream() }) };
}

/** A reply that is nothing but an error trailer. */
export async function trailerOnly(core: EmulatorCore, res: ServerResponse, error: ConnectError): Promise<void> {
  const stream = new EnvelopeStream(res, { rng: mulberry32(core.streamSeed()), fragment: core.options.fragment });
  await stream.end({ error });
}

async function applyFault(stream: EnvelopeStream, fault: Fault, events: DialectEvents): Promise<void> {
  switch (fault) {
    case 'error-event':
      await events.sendError(stream);
      return stream.end({});
    case 'error-trailer':
      return stream.end({ error: { code: 'internal', message: 'emulated trailer error' } });
    case 'reset':
      return stream.reset();
    case 'risk':
      // Moderation withholds the rest of the answer.
      await events.send(stream, { riskEvent: { riskType: 'RISK_TYPE_SENSITIVE', message: 'withheld' } });
      return stream.end({});
    default:
      return stream.waitForClose();
  }
}

/** Noise clients must tolerate: heartbeats, and now and then an event kind they do not know. */
export async function maybeNoise(stream: EnvelopeStream, rng: Rng, events: DialectEvents): Promise<void> {
  if (rng() < 0.15) await events.send(stream, { heartBeatEvent: {} });
  if (rng() < 0.05) await events.send(stream, { unknownEvent: { note: 'clients must ignore this' } });
}

/**
 * Sends the answer's text frames, paced by `#delay:` or frameDelayMs, recording what was written
 * in `msg.answer`. Returns false when a mid-stream fault ended the stream instead.
 */
export async function sendFrames(
  core: EmulatorCore,
  stream: EnvelopeStream,
  rng: Rng,
  msg: ReceivedMessage,
  frames: string[],
  directives: Directives,
  events: DialectEvents,
): Promise<boolean> {
  const delayMs = directives.delayMs ?? core.options.frameDelayMs;
  const fault = MID_STREAM_FAULTS.find((f) => directives.faults.has(f));
  const faultAt = Math.min(FAULT_AFTER_FRAMES, frames.length);
  for (let i = 0; i <= frames.length && stream.open; i++) {
    if (fault && i === faultAt) {
      await applyFault(stream, fault, events);
      return false;
    }
    const frame = frames[i];
    if (frame === undefined) break;
    if (i > 0 && delayMs > 0) await stream.sleep(delayMs);
    await maybeNoise(stream, rng, events);
    const drift = directives.drift || core.options.drift;
    if (drift && i < 2) for (const name of DRIFT_EVENTS) await events.send(stream, { [name]: { payload: { nested: [i] } } });
    // Drift adds fields the gateway has never seen to a known event.
    await events.send(stream, { textEvent: drift ? { text: frame, renderHint: { style: 'markdown' }, seq: i } : { text: frame } });
    if (stream.open) msg.answer += frame;
  }
  return true;
}

/** How often the endless faults write: well inside any silence timeout, so only a total deadline ends them. */
const ENDLESS_EVERY_MS = 50;

/**
 * The faults that never end on their own: `#fault:trickle-503` (a 503 whose error body drips a
 * byte at a time) and `#fault:heartbeats` (a 200 stream of heartbeats only). True when one ran.
 */
export async function endlessFault(core: EmulatorCore, res: ServerResponse, directives: Directives, events: DialectEvents): Promise<boolean> {
  if (directives.faults.has('trickle-503')) {
    res.writeHead(503, { 'content-type': 'application/json' });
    res.write('{"code":"unavailable","message":"');
    while (!res.destroyed) {
      res.write('.');
      await new Promise((resolve) => setTimeout(resolve, ENDLESS_EVERY_MS));
    }
    return true;
  }
  if (!directives.faults.has('heartbeats')) return false;
  const { stream } = openAnswerStream(core, res);
  while (stream.open) {
    await events.send(stream, { heartBeatEvent: {} });
    await stream.sleep(ENDLESS_EVERY_MS);
  }
  return true;
}
