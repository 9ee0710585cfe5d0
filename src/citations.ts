/** Inline citation markers StepChat puts in answer text, e.g. `<web_3f9a1c>`. */
const MARKER = /<(web|url|unknown)_[\w-]*>/g;
/** A tail that may still become a marker once the next frame arrives. */
const PARTIAL = /^<(?:w(?:e(?:b(?:_[\w-]*)?)?)?|u(?:r(?:l(?:_[\w-]*)?)?)?|u(?:n(?:k(?:n(?:o(?:w(?:n(?:_[\w-]*)?)?)?)?)?)?)?)?$/;
const MAX_MARKER = 80;

/**
 * Removes citation markers from streamed text, including markers split across frames: a tail
 * that could be the start of a marker is held back until the next frame decides it.
 */
export class CitationFilter {
  private carry = '';

  push(text: string): string {
    let s = this.carry + text;
    this.carry = '';
    if (s.indexOf('<') === -1) return s;
    s = s.replace(MARKER, '');
    const lt = s.lastIndexOf('<');
    if (lt !== -1 && s.length - lt <= MAX_MARKER && PARTIAL.test(s.slice(lt))) {
      this.carry = s.slice(lt);
      s = s.slice(0, lt);
    }
    return s;
  }

  /** Whatever was held back, at the end of the answer (it was not a marker after all). */
  flush(): string {
    const rest = this.carry;
    this.carry = '';
    return rest;
  }
}
