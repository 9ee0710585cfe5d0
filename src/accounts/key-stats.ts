/** What the admin page shows per API key name. */
export interface KeyStatsView {
  name: string;
  requests: number;
  rateLimited: number;
  promptTokens: number;
  completionTokens: number;
}

/** Counters per API key name (never the key): requests, rate-limited ones, estimated tokens. */
export function createKeyStats(names: string[]) {
  const stats = new Map<string, KeyStatsView>();
  for (const name of names) stats.set(name, { name, requests: 0, rateLimited: 0, promptTokens: 0, completionTokens: 0 });
  const get = (name: string) => stats.get(name);
  return {
    request(name: string): void {
      const s = get(name);
      if (s) s.requests++;
    },
    rateLimited(name: string): void {
      const s = get(name);
      if (s) s.rateLimited++;
    },
    tokens(name: string, prompt: number, completion: number): void {
      const s = get(name);
      if (!s) return;
      s.promptTokens += prompt;
      s.completionTokens += completion;
    },
    view: (): KeyStatsView[] => [...stats.values()].map((s) => ({ ...s })),
  };
}
