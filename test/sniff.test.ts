import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fileName } from '../src/attachments/prepared-file.js';
import { looksLikeText, resolveMime, sniff } from '../src/attachments/sniff.js';
import { FILE_FIXTURES } from './emulator/index.js';

const DOCX = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';

function webp(chunk: string, body: number[]): Buffer {
  const b = Buffer.alloc(40);
  b.write('RIFF', 0, 'latin1');
  b.write('WEBP', 8, 'latin1');
  b.write(chunk, 12, 'latin1');
  b.set(body, 16);
  return b;
}

describe('type sniffing by magic bytes', () => {
  test('the fixtures are recognized with their dimensions', () => {
    for (const f of Object.values(FILE_FIXTURES)) {
      const got = sniff(f.bytes);
      if (f.mime === 'text/plain') assert.deepEqual(got, {});
      else assert.deepEqual(got, { mime: f.mime, ...(f.width ? { width: f.width, height: f.height } : {}) }, f.name);
    }
  });

  test('GIF and the three WEBP variants give their dimensions', () => {
    assert.deepEqual(sniff(Buffer.from('GIF89a\x40\x01\xf0\x00', 'latin1')), { mime: 'image/gif', width: 320, height: 240 });
    // VP8 (lossy): size at byte 26; VP8L: 14-bit fields packed from byte 21; VP8X: 24-bit at 24 and 27.
    const lossy = webp('VP8 ', [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x02, 0xe0, 0x01]);
    assert.deepEqual(sniff(lossy), { mime: 'image/webp', width: 640, height: 480 });
    const bits = (640 - 1) | ((480 - 1) << 14);
    const lossless = webp('VP8L', [0, 0, 0, 0, 0x2f, bits & 0xff, (bits >> 8) & 0xff, (bits >> 16) & 0xff, (bits >> 24) & 0xff]);
    assert.deepEqual(sniff(lossless), { mime: 'image/webp', width: 640, height: 480 });
    const extended = webp('VP8X', [0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0x02, 0, 0xdf, 0x01, 0]);
    assert.deepEqual(sniff(extended), { mime: 'image/webp', width: 640, height: 480 });
  });

  test('text is told from binary, even when the window ends inside a character', () => {
    const text = Buffer.from('年度报告 annual report', 'utf8');
    assert.ok(looksLikeText(text));
    assert.ok(looksLikeText(text.subarray(0, 2)), 'a cut multi-byte character');
    assert.ok(!looksLikeText(Buffer.from([0x41, 0x00, 0x42])));
    assert.ok(!looksLikeText(Buffer.from([0xc3, 0x28])));
  });

  test('magic bytes win over the declared type, which wins over the extension', () => {
    const png = FILE_FIXTURES['pixel.png']!.bytes;
    assert.equal(resolveMime(png, 'application/octet-stream', 'a.pdf').mime, 'image/png');
    assert.equal(resolveMime(Buffer.from('# title'), 'text/markdown; charset=utf-8', 'a.txt').mime, 'text/markdown');
    assert.equal(resolveMime(Buffer.from('a,b\n1,2'), 'application/octet-stream', 'data.csv').mime, 'text/csv');
    assert.equal(resolveMime(Buffer.from('plain'), undefined, undefined).mime, 'text/plain');
    assert.equal(resolveMime(Buffer.from([0, 1, 2]), undefined, undefined).mime, 'application/octet-stream');
    assert.equal(resolveMime(Buffer.from('PK\x03\x04 no office names', 'latin1'), undefined, 'deck.docx').mime, DOCX);
  });
});

describe('upload names', () => {
  test('a name keeps a matching extension, gains a missing one and loses path characters', () => {
    assert.equal(fileName('report.pdf', 'application/pdf', 'file-1'), 'report.pdf');
    assert.equal(fileName('photo.JPEG', 'image/jpeg', 'image-1'), 'photo.JPEG');
    assert.equal(fileName('quarterly', 'application/pdf', 'file-1'), 'quarterly.pdf');
    assert.equal(fileName('download.php', 'application/pdf', 'file-1'), 'download.php.pdf');
    assert.equal(fileName('script.py', 'text/plain', 'file-1'), 'script.py');
    assert.equal(fileName('../../etc/passwd', 'text/plain', 'file-1'), '_.._etc_passwd.txt');
    assert.equal(fileName(undefined, 'image/png', 'image-2'), 'image-2.png');
    assert.equal(fileName('', 'application/x-unknown', 'file-1'), 'file-1');
  });
});
