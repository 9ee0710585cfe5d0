import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { GptEncoding } from 'gpt-tokenizer/GptEncoding';

/**
 * The o200k ranks read from the package's own `data/o200k_base.tiktoken` (base64 token, space,
 * rank per line) instead of its 2.4 MB JavaScript module: the same table, but a module that size
 * keeps its literal arrays and code alive next to the rank map, ≈ 13 MB more live heap and ≈ 27 MB
 * more RSS. Tokens are strings where they are valid UTF-8 (a leading BOM kept as bytes, as the
 * package's table has it), byte arrays otherwise.
 */
function loadRanks(): (string | number[])[] {
  const file = createRequire(import.meta.url).resolve('gpt-tokenizer/data/o200k_base.tiktoken');
  const text = readFileSync(file, 'latin1');
  const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  const ranks: (string | number[])[] = [];
  for (let from = 0; from < text.length; ) {
    const nl = text.indexOf('\n', from) === -1 ? text.length : text.indexOf('\n', from);
    const sp = text.indexOf(' ', from);
    if (sp > from && sp < nl) {
      const bytes = Buffer.from(text.slice(from, sp), 'base64');
      let token: string | number[];
      try {
        token = utf8.decode(bytes);
        if (token.charCodeAt(0) === 0xfeff) token = [...bytes];
      } catch {
        token = [...bytes];
      }
      ranks[Number(text.slice(sp + 1, nl))] = token;
    }
    from = nl + 1;
  }
  return ranks;
}

type Encoding = ReturnType<typeof GptEncoding.getEncodingApi>;
let o200k: Encoding | undefined;

/**
 * Built on the first count rather than at start-up: the rank map is ≈ 10 MB of live heap and
 * ≈ 30 MB of RSS an idle service, or one that only serves /models and health probes, never needs
 * (the first completion pays the ≈ 0.2 s build once).
 */
function encoding(): Encoding {
  return (o200k ??= GptEncoding.getEncodingApi('o200k_base', loadRanks));
}

/** gpt-tokenizer's o200k_base API (the GPT-4o encoding). */
export const countTokens: Encoding['countTokens'] = (...args) => encoding().countTokens(...args);
export const decode: Encoding['decode'] = (...args) => encoding().decode(...args);
export const encode: Encoding['encode'] = (...args) => encoding().encode(...args);
export const isWithinTokenLimit: Encoding['isWithinTokenLimit'] = (...args) => encoding().isWithinTokenLimit(...args);
