import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { HumanMessage, ToolMessage, type AIMessage } from '@langchain/core/messages';
import { tool as lcTool } from '@langchain/core/tools';
import { ChatOpenAI } from '@langchain/openai';
import { generateText, stepCountIs, streamText, tool } from 'ai';
import { z } from 'zod';
import { suiteStack } from './helpers.js';

// Real agent clients, each running a two-step tool loop against the emulator: the first answer
// calls the tool, its result (marked #answered) comes back, and the second answer is text.

const City = z.object({ city: z.string() });

describe('Vercel AI SDK tools', () => {
  const s = suiteStack();
  const model = () => createOpenAICompatible({ name: 'step', baseURL: `${s.baseUrl}/v1`, apiKey: s.token })('step');
  const weather = (seen: string[]) =>
    tool({
      description: 'Current weather of a city',
      inputSchema: City,
      execute: async ({ city }) => {
        seen.push(city);
        return `21C in ${city} #answered`;
      },
    });

  test('generateText runs the multi-step tool loop to a text answer', async () => {
    const seen: string[] = [];
    const result = await generateText({
      model: model(),
      prompt: 'weather? #tool:fence:get_weather:{"city":"Paris"}',
      tools: { get_weather: weather(seen) },
      stopWhen: stepCountIs(3),
      maxRetries: 0,
    });
    assert.deepEqual(seen, ['Paris']);
    assert.equal(result.steps.length, 2);
    assert.equal(result.steps[0]!.finishReason, 'tool-calls');
    assert.equal(result.steps[0]!.toolCalls[0]!.toolName, 'get_weather');
    assert.equal(result.finishReason, 'stop');
    assert.ok(result.text.length > 0);
    assert.match(s.emu.messages.at(-1)!.text, /result of get_weather \{"city":"Paris"\}:\n"?21C in Paris/);
  });

  test('streamText runs the same loop over streamed tool_calls deltas', async () => {
    const seen: string[] = [];
    const result = streamText({
      model: model(),
      prompt: 'stream weather? #tool:hermes:get_weather:{"city":"Turin"}',
      tools: { get_weather: weather(seen) },
      stopWhen: stepCountIs(3),
      maxRetries: 0,
    });
    const text = await result.text;
    const steps = await result.steps;
    assert.deepEqual(seen, ['Turin']);
    assert.equal(steps.length, 2);
    assert.equal(steps[0]!.toolCalls[0]!.toolName, 'get_weather');
    assert.ok(text.length > 0);
    assert.doesNotMatch(text, /tool_call/);
  });
});

describe('LangChain tools and structured output', () => {
  const s = suiteStack();
  const chat = () => new ChatOpenAI({ model: 'step', apiKey: s.token, configuration: { baseURL: `${s.baseUrl}/v1` }, maxRetries: 0 });
  const getWeather = lcTool(async ({ city }) => `18C in ${city} #answered`, { name: 'get_weather', description: 'Current weather of a city', schema: City });

  test('bindTools: the call comes back as AIMessage.tool_calls, and its result leads to a text answer', async () => {
    const bound = chat().bindTools([getWeather]);
    const question = new HumanMessage('weather? #tool:own:get_weather:{"city":"Vienna"}');
    const first = (await bound.invoke([question])) as AIMessage;
    assert.equal(first.tool_calls?.length, 1);
    const call = first.tool_calls![0]!;
    assert.equal(call.name, 'get_weather');
    assert.deepEqual(call.args, { city: 'Vienna' });
    const result = (await getWeather.invoke(call)) as ToolMessage;
    assert.ok(result instanceof ToolMessage);
    const second = (await bound.invoke([question, first, result])) as AIMessage;
    assert.deepEqual(second.tool_calls, []);
    assert.ok(typeof second.content === 'string' && second.content.length > 0);
    assert.match(s.emu.messages.at(-1)!.text, /result of get_weather \{"city":"Vienna"\}:\n18C in Vienna/);
  });

  const Person = z.object({ name: z.string(), age: z.number() });

  test('withStructuredOutput (JSON schema) returns the object', async () => {
    const structured = chat().withStructuredOutput(Person, { name: 'person', method: 'jsonSchema' });
    const person = await structured.invoke('who? #json:{"name":"Ada","age":36}');
    assert.deepEqual(person, { name: 'Ada', age: 36 });
  });

  test('withStructuredOutput (function calling) returns the object', async () => {
    const structured = chat().withStructuredOutput(Person, { name: 'person', method: 'functionCalling' });
    const person = await structured.invoke('who? #tool:own:person:{"name":"Alan","age":41}');
    assert.deepEqual(person, { name: 'Alan', age: 41 });
  });
});
