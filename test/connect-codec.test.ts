import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { encodeEnvelope, EnvelopeDecoder, EnvelopeError, FLAG_END_STREAM, type Envelope } from '../src/upstream/connect-codec.js';
import { cut } from './fragments.js';

const message = fc.record({
  textEvent: fc.record({ text: fc.string({ unit: 'grapheme', maxLength: 40 }) }),
});

/** Feeds the pieces to one decoder, as reads off a socket would be. */
function decode(pieces: Buffer[]): { envelopes: Envelope[]; buffered: number } {
  const decoder = new EnvelopeDecoder();
  const envelopes = pieces.flatMap((p) => decoder.push(p));
  return { envelopes, buffered: decoder.buffered };
}

test('any splitting and merging of an encoded stream decodes to exactly the original messages', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 30 }), fc.array(fc.nat(), { maxLength: 60 }), async (messages, offsets) => {
      const bytes = Buffer.concat([...messages.map((m) => encodeEnvelope(m)), encodeEnvelope({}, FLAG_END_STREAM)]);
      const { envelopes: got, buffered } = decode(cut(bytes, offsets));
      assert.equal(buffered, 0);
      assert.deepEqual(
        got.map((e) => e.data),
        [...JSON.parse(JSON.stringify(messages)), {}],
      );
      assert.equal(got.at(-1)!.flags, FLAG_END_STREAM);
    }),
    { numRuns: 1000 },
  );
});

test('a cut inside an envelope yields nothing and leaves the bytes buffered (the stream call fails on them at the end)', () => {
  const bytes = encodeEnvelope({ textEvent: { text: '你好' } });
  fc.assert(
    fc.property(fc.integer({ min: 1, max: bytes.length - 1 }), (keep) => {
      const { envelopes, buffered } = decode([bytes.subarray(0, keep)]);
      assert.equal(envelopes.length, 0);
      assert.equal(buffered, keep);
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
