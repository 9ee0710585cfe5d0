import type { BatchStage } from './delta-stages.js';

/** Length of the longest suffix of `text` that is a proper prefix of one of the stops. */
function partialMatch(text: string, stops: readonly string[]): number {
  let best = 0;
  for (const stop of stops) {
    for (let n = Math.min(stop.length - 1, text.length); n > best; n--) {
      if (text.endsWith(stop.slice(0, n))) {
        best = n;
        break;
      }
    }
  }
  return best;
}

/**
 * Cuts the content exactly before the first stop sequence, also one split across frames: only
 * the longest tail that could still become a stop is held back. Reasoning is not searched (the
 * OpenAI API stops on the answer text).
 */
export function stopStage(stops: readonly string[]): BatchStage {
  let held = '';
  return {
    push(batch, out, outcome) {
      for (const delta of batch) {
        if (delta.content === undefined) {
          out.push(delta);
          continue;
        }
        const text = held + delta.content;
        let cut = -1;
        for (const stop of stops) {
          const at = text.indexOf(stop);
          if (at !== -1 && (cut === -1 || at < cut)) cut = at;
        }
        if (cut !== -1) {
          if (cut > 0) out.push({ content: text.slice(0, cut) });
          outcome.finishReason = 'stop';
          outcome.truncated = true;
          return true;
        }
        const keep = partialMatch(text, stops);
        held = text.slice(text.length - keep);
        if (text.length > keep) out.push({ content: text.slice(0, text.length - keep) });
      }
      return false;
    },
    flush(out) {
      if (held) out.push({ content: held });
    },
  };
}
