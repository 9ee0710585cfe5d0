import { deflateSync } from 'node:zlib';

// Small real-looking files for attachment tests, built in code so the repository
// holds no binaries. Each carries the magic bytes and header a type sniffer reads.

/** A file the emulator serves under `/files/<name>`. */
export interface FileFixture {
  name: string;
  mime: string;
  bytes: Buffer;
  width?: number;
  height?: number;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const byte of buf) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

function png(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const rows = Buffer.alloc((width * 3 + 1) * height, 0x80);
  for (let y = 0; y < height; y++) rows[y * (width * 3 + 1)] = 0; // filter byte
  return Buffer.concat([
    Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(rows)),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

// Header only: SOI, a JFIF APP0, a padding APP1 (so the frame header is not at the front),
// SOF0 with the size, EOI. Enough for anything that reads dimensions.
function jpeg(width: number, height: number): Buffer {
  const segment = (marker: number, body: Buffer) => {
    const head = Buffer.from([0xff, marker, 0, 0]);
    head.writeUInt16BE(body.length + 2, 2);
    return Buffer.concat([head, body]);
  };
  const sof = Buffer.alloc(15);
  sof.writeUInt8(8, 0);
  sof.writeUInt16BE(height, 1);
  sof.writeUInt16BE(width, 3);
  sof.set([3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1], 5);
  return Buffer.concat([
    Buffer.from([0xff, 0xd8]),
    segment(0xe0, Buffer.from('JFIF\0\x01\x01\0\0\x01\0\x01\0\0', 'latin1')),
    segment(0xe1, Buffer.alloc(2000, 0x41)),
    segment(0xc0, sof),
    Buffer.from([0xff, 0xd9]),
  ]);
}

function pdf(text: string): Buffer {
  const stream = `BT /F1 12 Tf 72 720 Td (${text}) Tj ET`;
  return Buffer.from(
    `%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n` +
      `3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >> endobj\n` +
      `4 0 obj << /Length ${stream.length} >> stream\n${stream}\nendstream endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n`,
    'latin1',
  );
}

// A ZIP with stored (uncompressed) entries: local headers, central directory, end record.
function zip(entries: [string, string][]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, text] of entries) {
    const data = Buffer.from(text, 'utf8');
    const nameBuf = Buffer.from(name, 'utf8');
    // Both headers carry CRC, sizes and name length in the same order, at different offsets.
    const header = (size: number, signature: number, fieldsAt: number) => {
      const h = Buffer.alloc(size);
      h.writeUInt32LE(signature, 0);
      h.writeUInt32LE(crc32(data), fieldsAt);
      h.writeUInt32LE(data.length, fieldsAt + 4);
      h.writeUInt32LE(data.length, fieldsAt + 8);
      h.writeUInt16LE(nameBuf.length, fieldsAt + 12);
      return h;
    };
    const local = header(30, 0x04034b50, 14);
    local.writeUInt16LE(20, 4); // version needed
    const central = header(46, 0x02014b50, 16);
    central.writeUInt16LE(20, 4); // version made by
    central.writeUInt16LE(20, 6); // version needed
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBuf, data);
    centrals.push(central, nameBuf);
    offset += local.length + nameBuf.length + data.length;
  }
  const dir = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(dir.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, dir, end]);
}

const DOCX = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';

/** The fixtures by name. */
export const FILE_FIXTURES: Record<string, FileFixture> = Object.fromEntries(
  [
    { name: 'pixel.png', mime: 'image/png', bytes: png(3, 2), width: 3, height: 2 },
    { name: 'photo.jpg', mime: 'image/jpeg', bytes: jpeg(640, 480), width: 640, height: 480 },
    { name: 'report.pdf', mime: 'application/pdf', bytes: pdf('Quarterly report') },
    {
      name: 'notes.docx',
      mime: DOCX,
      bytes: zip([
        ['[Content_Types].xml', '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'],
        ['word/document.xml', '<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"/>'],
      ]),
    },
    { name: 'readme.txt', mime: 'text/plain', bytes: Buffer.from('Plain text, 纯文本.\n', 'utf8') },
  ].map((f) => [f.name, f]),
);

const MAGIC: Record<string, Buffer> = { pdf: Buffer.from('%PDF-1.4\n', 'latin1'), bin: Buffer.alloc(0) };

// The filler repeats every 256 bytes, so one precomputed run serves any offset.
const PATTERN = Buffer.from(Array.from({ length: 65_536 + 256 }, (_, i) => (i * 31 + 7) & 0xff));

/** Bytes `from`..`from+length` of the generated file `big.<ext>` (magic bytes, then a pattern). */
export function generatedSlice(ext: string, from: number, length: number): Buffer {
  const magic = MAGIC[ext] ?? MAGIC.bin!;
  const out = Buffer.alloc(length);
  for (let done = 0; done < length; ) {
    const start = (from + done) % 256;
    const n = Math.min(length - done, 65_536);
    PATTERN.copy(out, done, start, start + n);
    done += n;
  }
  if (from < magic.length) magic.copy(out, 0, from, Math.min(magic.length, from + length));
  return out;
}

/** MIME type of the generated file `big.<ext>`. */
export function generatedMime(ext: string): string {
  return ext === 'pdf' ? 'application/pdf' : 'application/octet-stream';
}
