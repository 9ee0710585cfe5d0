import { Type, type Static } from '@sinclair/typebox';

const Url = Type.String({ minLength: 1 });

export const TextPartSchema = Type.Object({ type: Type.Literal('text'), text: Type.String() });
export const ImagePartSchema = Type.Object({
  type: Type.Literal('image_url'),
  image_url: Type.Union([Type.Object({ url: Url, detail: Type.Optional(Type.String()) }), Url]),
});
export const FilePartSchema = Type.Object({
  type: Type.Literal('file'),
  file_url: Type.Optional(Type.Object({ url: Url })),
  file: Type.Optional(
    Type.Object({
      file_data: Type.Optional(Type.String()),
      filename: Type.Optional(Type.String()),
      file_id: Type.Optional(Type.String()),
    }),
  ),
});
/** Any other part type: accepted by the schema, reported by the translator with a clear 400. */
export const OtherPartSchema = Type.Object({ type: Type.String() });

export const ContentPartSchema = Type.Union([TextPartSchema, ImagePartSchema, FilePartSchema, OtherPartSchema]);
export type ContentPart = Static<typeof ContentPartSchema>;

const FunctionCallSchema = Type.Object({ name: Type.String(), arguments: Type.Optional(Type.Union([Type.String(), Type.Null()])) });

/** A call the assistant made earlier, as clients send it back in the history. */
export const ToolCallSchema = Type.Object({
  id: Type.Optional(Type.String()),
  type: Type.Optional(Type.String()),
  function: FunctionCallSchema,
});
export type ToolCall = Static<typeof ToolCallSchema>;

export const MessageSchema = Type.Object({
  role: Type.Union(['system', 'developer', 'user', 'assistant', 'tool', 'function'].map((r) => Type.Literal(r))),
  content: Type.Optional(Type.Union([Type.String(), Type.Array(ContentPartSchema), Type.Null()])),
  name: Type.Optional(Type.String()),
  tool_calls: Type.Optional(Type.Union([Type.Array(ToolCallSchema), Type.Null()])),
  /** A `tool` message: the call it answers. */
  tool_call_id: Type.Optional(Type.String()),
  /** Legacy: the assistant's one function call. */
  function_call: Type.Optional(Type.Union([FunctionCallSchema, Type.Null()])),
});
export type ChatMessage = Static<typeof MessageSchema>;

const FunctionDefSchema = Type.Object({
  name: Type.String(),
  description: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  parameters: Type.Optional(Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()])),
  strict: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
});
export type FunctionDef = Static<typeof FunctionDefSchema>;

/** An offered tool; src/tools/options.ts checks what the schema cannot (names, known types, schemas). */
export const ToolSchema = Type.Object({ type: Type.String(), function: Type.Optional(FunctionDefSchema) });

const NamedChoiceSchema = Type.Object({
  type: Type.Optional(Type.String()),
  function: Type.Optional(Type.Object({ name: Type.String() })),
  name: Type.Optional(Type.String()),
});

export const ResponseFormatSchema = Type.Object({
  type: Type.String(),
  json_schema: Type.Optional(
    Type.Object({
      name: Type.Optional(Type.String()),
      description: Type.Optional(Type.String()),
      schema: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
      strict: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
    }),
  ),
});

/**
 * The request body. Only what the service acts on is described; everything else OpenAI clients
 * send (temperature, seed, …) is accepted and ignored.
 */
export const ChatCompletionRequestSchema = Type.Object({
  model: Type.Optional(Type.String({ default: 'step' })),
  messages: Type.Array(MessageSchema, { minItems: 1 }),
  stream: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
  stream_options: Type.Optional(
    Type.Union([Type.Object({ include_usage: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])) }), Type.Null()]),
  ),
  use_search: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
  reasoning_effort: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  stop: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String(), { maxItems: 4 }), Type.Null()])),
  max_tokens: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.Null()])),
  max_completion_tokens: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.Null()])),
  n: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.Null()])),
  tools: Type.Optional(Type.Union([Type.Array(ToolSchema), Type.Null()])),
  tool_choice: Type.Optional(Type.Union([Type.String(), NamedChoiceSchema, Type.Null()])),
  parallel_tool_calls: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
  /** Legacy function calling. */
  functions: Type.Optional(Type.Union([Type.Array(FunctionDefSchema), Type.Null()])),
  function_call: Type.Optional(Type.Union([Type.String(), NamedChoiceSchema, Type.Null()])),
  response_format: Type.Optional(Type.Union([ResponseFormatSchema, Type.Null()])),
  /** CONVERSATION_MODE=id: the conversation to continue (any earlier reply's `id`). */
  conversation_id: Type.Optional(Type.Union([Type.String(), Type.Null()])),
});
export type ChatCompletionRequest = Static<typeof ChatCompletionRequestSchema>;

export const UsageSchema = Type.Object({
  prompt_tokens: Type.Integer(),
  completion_tokens: Type.Integer(),
  total_tokens: Type.Integer(),
  completion_tokens_details: Type.Optional(Type.Object({ reasoning_tokens: Type.Integer() })),
});
export type Usage = Static<typeof UsageSchema>;

export const ChatCompletionSchema = Type.Object({
  id: Type.String(),
  object: Type.Literal('chat.completion'),
  created: Type.Integer(),
  model: Type.String(),
  choices: Type.Array(
    Type.Object({
      index: Type.Integer(),
      message: Type.Object({
        role: Type.Literal('assistant'),
        content: Type.Union([Type.String(), Type.Null()]),
        reasoning_content: Type.Optional(Type.String()),
        tool_calls: Type.Optional(
          Type.Array(
            Type.Object({
              id: Type.String(),
              type: Type.Literal('function'),
              function: Type.Object({ name: Type.String(), arguments: Type.String() }),
            }),
          ),
        ),
        function_call: Type.Optional(Type.Object({ name: Type.String(), arguments: Type.String() })),
      }),
      finish_reason: Type.String(),
    }),
  ),
  usage: UsageSchema,
});
export type ChatCompletion = Static<typeof ChatCompletionSchema>;
