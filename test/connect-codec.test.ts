import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeEnvelopes, encodeEnvelope, EnvelopeDecoder, EnvelopeError, FLAG_END_STREAM } from '../src/connect-codec.js';

const message = fc.record({
  textEvent: fc.record({ text: fc.string({ unit: 'grapheme', maxLength: 40 }) }),
});

/** Cuts `bytes` at the given offsets (sorted, deduplicated) into consecutive pieces. */
function cut(bytes: Buffer, offsets: number[]): Buffer[] {
  const points = [...new Set(offsets.map((o) => o % (bytes.length + 1)))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let start = 0;
  for (const p of points) {
    pieces.push(bytes.subarray(start, p));
    start = p;
  }
  pieces.push(bytes.subarray(start));
  return pieces;
}

async function* from(pieces: Buffer[]) {
  for (const p of pieces) yield p;
}

test('any splitting and merging of an encoded stream decodes to exactly the original messages', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 30 }), fc.array(fc.nat(), { maxLength: 60 }), async (messages, offsets) => {
      const bytes = Buffer.concat([...messages.map((m) => encodeEnvelope(m)), encodeEnvelope({}, FLAG_END_STREAM)]);
      const got = [];
      for await (const batch of decodeEnvelopes(from(cut(bytes, offsets)))) got.push(...batch);
      assert.deepEqual(
        got.map((e) => e.data),
        [...JSON.parse(JSON.stringify(messages)), {}],
      );
      assert.equal(got.at(-1)!.flags, FLAG_END_STREAM);
    }),
    { numRuns: 1000 },
  );
});

test('a stream that ends inside an envelope is an error, not a hang', async () => {
  const bytes = encodeEnvelope({ textEvent: { text: '你好' } });
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: bytes.length - 1 }), async (keep) => {
      await assert.rejects(async () => {
        for await (const _ of decodeEnvelopes(from([bytes.subarray(0, keep)]))) void _;
      }, EnvelopeError);
    }),
  );
});

test('an absurd envelope length is rejected at once', () => {
  const bad = Buffer.from([0, 0xff, 0xff, 0xff, 0xff, 1, 2, 3]);
  assert.throws(() => new EnvelopeDecoder().push(bad), EnvelopeError);
});

test('an envelope that is not JSON is rejected', () => {
  const payload = Buffer.from('{not json', 'utf8');
  const head = Buffer.from([0, 0, 0, 0, payload.length]);
  assert.throws(() => new EnvelopeDecoder().push(Buffer.concat([head, payload])), EnvelopeError);
});

test('compressed or unknown flags are rejected rather than misread', () => {
  const env = encodeEnvelope({ a: 1 });
  env[0] = 0x01;
  assert.throws(() => new EnvelopeDecoder().push(env), /compressed/);
  env[0] = 0x80;
  assert.throws(() => new EnvelopeDecoder().push(env), /unknown envelope flags/);
});
