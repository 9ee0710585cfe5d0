/** Inline citation markers StepChat puts in answer text, e.g. `<web_3f9a1c>`. */
const MARKER = /<(web|url|unknown)_([\w-]*)>/g;
/** A tail that may still become a marker once the next frame arrives. */
const PARTIAL = /^<(?:w(?:e(?:b(?:_[\w-]*)?)?)?|u(?:r(?:l(?:_[\w-]*)?)?)?|u(?:n(?:k(?:n(?:o(?:w(?:n(?:_[\w-]*)?)?)?)?)?)?)?)?$/;
const MAX_MARKER = 80;

/**
 * Rewrites citation markers in streamed text, including markers split across frames: a tail
 * that could be the start of a marker is held back until the next frame decides it. The n-th
 * distinct `<web_…>` marker becomes `[n]`, matching the n-th web source, when that source
 * exists; every other marker is removed.
 */
export class CitationFilter {
  private carry = '';
  private readonly numbers = new Map<string, number>();

  /** @param sources how many web sources are known so far */
  constructor(private readonly sources: () => number = () => 0) {}

  push(text: string): string {
    let s = this.carry + text;
    this.carry = '';
    if (s.indexOf('<') === -1) return s;
    s = s.replace(MARKER, (_m, kind: string, id: string) => this.replace(kind, id));
    const lt = s.lastIndexOf('<');
    if (lt !== -1 && s.length - lt <= MAX_MARKER && PARTIAL.test(s.slice(lt))) {
      this.carry = s.slice(lt);
      s = s.slice(0, lt);
    }
    return s;
  }

  private replace(kind: string, id: string): string {
    if (kind !== 'web') return '';
    let n = this.numbers.get(id);
    if (n === undefined) {
      n = this.numbers.size + 1;
      this.numbers.set(id, n);
    }
    return n <= this.sources() ? `[${n}]` : '';
  }

  /** Whatever was held back, at the end of the answer (it was not a marker after all). */
  flush(): string {
    const rest = this.carry;
    this.carry = '';
    return rest;
  }
}
