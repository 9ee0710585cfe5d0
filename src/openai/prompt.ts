import type { ChatMessage, ContentPart } from '../../schemas/chat.js';
import { BadRequestError } from '../errors.js';
import { callBlock, type CallText } from '../tools/prompt.js';

/** A file or image the user attached, as the request gave it. */
export interface AttachmentSource {
  kind: 'image' | 'file';
  url: string;
  filename?: string;
  /** Given as `file.file_data`, which may be bare base64 (Dify); URL fields must be URLs. */
  inline?: boolean;
}

const KNOWN_PARTS = new Set(['text', 'image_url', 'file']);
const ROLE_LABEL: Record<string, string> = {
  system: 'system',
  developer: 'system',
  user: 'user',
  assistant: 'assistant',
  tool: 'tool',
  function: 'tool',
};
const NUDGE = '(以上是历史对话。请结合上下文,回答下面这条最新的用户消息。)';

/** The text of a message: a string, or its text parts joined by newlines. */
export function messageText(content: ChatMessage['content'], where: string): string {
  if (content == null) return '';
  if (typeof content === 'string') return content;
  const texts: string[] = [];
  content.forEach((part, i) => {
    checkPart(part, `${where}.content[${i}]`);
    if (part.type === 'text') texts.push((part as { text: string }).text);
  });
  return texts.join('\n');
}

function checkPart(part: ContentPart, where: string): void {
  if (!KNOWN_PARTS.has(part.type)) {
    throw new BadRequestError(`${where}: content part type "${part.type}" is not supported (use text, image_url or file)`);
  }
  if (part.type === 'text' && typeof (part as { text?: unknown }).text !== 'string') {
    throw new BadRequestError(`${where}: a text part needs a "text" string`);
  }
}

/** Attachments of one message, in order. */
export function messageAttachments(content: ChatMessage['content']): AttachmentSource[] {
  if (!Array.isArray(content)) return [];
  const out: AttachmentSource[] = [];
  for (const part of content) {
    if (part.type === 'image_url') {
      const ref = (part as { image_url: string | { url: string } }).image_url;
      out.push({ kind: 'image', url: typeof ref === 'string' ? ref : ref.url });
    } else if (part.type === 'file') {
      const p = part as { file_url?: { url: string }; file?: { file_data?: string; filename?: string } };
      if (p.file_url?.url) out.push({ kind: 'file', url: p.file_url.url });
      else if (p.file?.file_data) out.push({ kind: 'file', url: p.file.file_data, filename: p.file.filename, inline: true });
    }
  }
  return out;
}

/**
 * A message's text with what function calling adds: the assistant's calls in the block the model
 * is asked to write, and a tool result headed by the call it answers (name and arguments), so the
 * model sees what happened.
 */
function turnText(m: ChatMessage, where: string, calls: Map<string, CallText>): string {
  const text = messageText(m.content, where).trim();
  if (m.role === 'assistant') {
    const made: CallText[] = (m.tool_calls ?? []).map((c) => ({ name: c.function.name, arguments: c.function.arguments ?? '' }));
    if (m.function_call) made.push({ name: m.function_call.name, arguments: m.function_call.arguments ?? '' });
    return made.length === 0 ? text : [text, callBlock(made)].filter(Boolean).join('\n');
  }
  if (m.role === 'tool') {
    const call = m.tool_call_id ? calls.get(m.tool_call_id) : undefined;
    const head = call ? `${call.name} ${call.arguments || '{}'}` : (m.name ?? m.tool_call_id ?? 'a tool');
    return `result of ${head}:\n${text}`;
  }
  if (m.role === 'function') return `result of ${m.name ?? 'a function'}:\n${text}`;
  return text;
}

/**
 * Flattens the conversation into the one message StepChat receives, since each completion runs
 * in a fresh upstream chat: a lone message goes as it is; a dialogue becomes role-prefixed lines
 * with a short nudge before the latest user message.
 */
export function buildPrompt(messages: ChatMessage[]): string {
  const calls = new Map<string, CallText>();
  for (const m of messages) for (const c of m.tool_calls ?? []) if (c.id) calls.set(c.id, { name: c.function.name, arguments: c.function.arguments ?? '' });
  const turns = messages
    .map((m, i) => ({ role: ROLE_LABEL[m.role] ?? m.role, text: turnText(m, `messages[${i}]`, calls) }))
    .filter((t) => t.text !== '');
  if (turns.length === 0) throw new BadRequestError('messages: no message has any text');
  if (turns.length === 1) return turns[0]!.text;
  let last = turns.length - 1;
  while (last > 0 && turns[last]!.role !== 'user') last--;
  const lines = turns.map((t) => `${t.role}: ${t.text}`);
  if (last > 0) lines.splice(last, 0, NUDGE);
  return lines.join('\n');
}
