import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { createDataUrlScanner } from '../src/attachments/data-url-scan.js';
import { restoreOutsideAttachments, type InlineFiles } from '../src/attachments/inline-refs.js';
import { cut } from './fragments.js';

// The scanner sees a body in whatever pieces the socket gives; cut anywhere, it must give back the
// same JSON (references aside) and the same bytes.
const MIN = 256;

/** The parsed body with every reference, attachment ones too, put back as the payload it replaced. */
function expand(value: unknown, files: InlineFiles | undefined): unknown {
  if (!files) return value;
  restoreOutsideAttachments(value, files);
  return JSON.parse(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'string' && files.find(v) ? v.slice(0, v.indexOf(',') + 1) + files.find(v)!.base64() : v)));
}

// Either side of MIN characters (fast-check alone keeps arrays short).
const payload = fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ minLength: 150, maxLength: 1500 })).map((b) => Buffer.from(b).toString('base64'));
// Payloads as clients send them, and a few that must be left as they are.
const spoilt = fc.tuple(payload, fc.constantFrom('', '-', '_', '\n', ' ', '"', 'x=', '\\u0041', '=A')).map(([p, bad]) => {
  const at = Math.floor(p.length / 2);
  return p.slice(0, at) + bad + p.slice(at);
});
const part = fc.oneof(
  fc.record({ type: fc.constant('image_url'), image_url: fc.record({ url: fc.oneof(payload, spoilt).map((p) => `data:image/png;base64,${p}`) }) }),
  fc.record({ type: fc.constant('file'), file: fc.record({ file_data: fc.oneof(payload, spoilt) }) }),
  fc.record({ type: fc.constant('text'), text: fc.oneof(fc.string(), payload.map((p) => `data:text/plain;base64,${p}`), payload.map((p) => `\\"data:a/b;base64,${p}`)) }),
);
const body = fc.tuple(fc.array(part, { maxLength: 4 }), fc.boolean(), fc.constantFrom('', ' ', '\n  ')).map(([content, slashes, space]) => {
  let text = JSON.stringify({ model: 'step', messages: [{ role: 'user', content }], note: content.length > 0 ? { file_data: 'QUJD' } : {} }, null, space);
  // Some encoders (PHP) write every slash as `\/`.
  if (slashes) text = text.replaceAll('/', '\\/');
  return text;
});

test('a body cut at any points gives back the same JSON and the same decoded bytes', () => {
  fc.assert(
    fc.property(body, fc.array(fc.nat(), { maxLength: 12 }), (text, offsets) => {
      const scanner = createDataUrlScanner(MIN);
      for (const piece of cut(Buffer.from(text), offsets)) scanner.write(piece);
      const { text: left, files } = scanner.end();
      assert.deepEqual(expand(JSON.parse(left.toString('utf8')), files), JSON.parse(text));
      for (const p of files?.parts ?? []) {
        assert.equal(p.size, Buffer.concat(p.blocks).length);
        if (p.valid) assert.deepEqual(Buffer.concat(p.blocks), Buffer.from(p.base64(), 'base64'));
      }
    }),
    { numRuns: 400 },
  );
});

test('long base64 payloads are taken out of the text, and a 4n+1 payload is marked invalid', () => {
  const long = Buffer.alloc(3 * MIN, 1).toString('base64');
  const scanner = createDataUrlScanner(MIN);
  scanner.write(Buffer.from(JSON.stringify({ a: `data:image/png;base64,${long}`, file: { file_data: long }, b: `data:image/png;base64,${long}A` })));
  const { text, files } = scanner.end();
  assert.ok(text.length < 400, `${text.length} bytes of JSON left`);
  assert.deepEqual(
    files!.parts.map((p) => p.valid),
    [true, true, false],
  );
});
