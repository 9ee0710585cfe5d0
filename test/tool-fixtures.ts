import type OpenAI from 'openai';

// Tools and helpers the function-calling suites share.

export type Tool = OpenAI.Chat.Completions.ChatCompletionTool;
export type Chunk = OpenAI.Chat.Completions.ChatCompletionChunk;

export const WEATHER: Tool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather of a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
  },
};
export const TIME: Tool = {
  type: 'function',
  function: { name: 'get_time', description: 'Local time in a time zone', parameters: { type: 'object', properties: { zone: { type: 'string' } }, required: ['zone'] } },
};
export const MARKUP = /<\/?tool_calls?>|```|"arguments"/;

/** The tool calls of a stream, accumulated by index the way Dify and LangChain do. */
export function streamedCalls(chunks: Chunk[]) {
  const calls: { id: string; name: string; arguments: string; firstHadAll: boolean }[] = [];
  for (const chunk of chunks) {
    for (const d of chunk.choices[0]?.delta.tool_calls ?? []) {
      const call = calls[d.index];
      if (!call) calls[d.index] = { id: d.id ?? '', name: d.function?.name ?? '', arguments: d.function?.arguments ?? '', firstHadAll: !!(d.id && d.type === 'function' && d.function?.name) };
      else call.arguments += d.function?.arguments ?? '';
    }
  }
  return calls;
}

