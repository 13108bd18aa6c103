/**
 * Conversational (`conversational`), the legacy Inference API contract of transformers'
 * ConversationalPipeline (removed in 4.42): `{text, past_user_inputs, generated_responses}`
 * in; the turns are interleaved (user first), `text` is the last user message, the chat is
 * rendered with the model's chat template and a generation prompt, and decoded greedily with up
 * to 256 new tokens unless `max_length`/`max_new_tokens` say otherwise. Out:
 * `{generated_text, conversation: {past_user_inputs, generated_responses}}` with the new turn
 * appended. A model without a chat template is a 400.
 */
import type { ChatMessage } from '../generation/chat.js';
import type { ConversationalOutput } from '../types/text-generation.js';
import { checkText, describeValue, invalidInput, parametersObject } from './params.js';
import type { CallOptions, TaskContext, TaskDefinition } from './task.js';
import { generateOne, generationContext, resolveParameters } from './text-generation.js';

const PARAMETERS = new Set([
  'min_length',
  'max_length',
  'max_new_tokens',
  'top_k',
  'top_p',
  'temperature',
  'repetition_penalty',
  'max_time',
  'do_sample',
  'seed',
  'num_beams',
  'no_repeat_ngram_size',
]);

function stringList(v: unknown, name: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v))
    throw invalidInput(`\`${name}\` must be a list of strings (got ${describeValue(v)})`);
  return v.map((x, i) => {
    if (typeof x !== 'string')
      throw invalidInput(`\`${name}[${i}]\` must be a string (got ${describeValue(x)})`);
    return checkText(`${name}[${i}]`, x);
  });
}

interface Conversation {
  text: string;
  past: string[];
  responses: string[];
}

function parseConversation(inputs: unknown): Conversation {
  if (typeof inputs === 'string') return { text: checkText('inputs', inputs), past: [], responses: [] };
  if (typeof inputs !== 'object' || inputs === null || Array.isArray(inputs)) {
    throw invalidInput(
      `\`inputs\` must be {text, past_user_inputs, generated_responses} (got ${describeValue(inputs)})`,
    );
  }
  const o = inputs as Record<string, unknown>;
  const extra = Object.keys(o).filter(
    (k) => !['text', 'past_user_inputs', 'generated_responses'].includes(k),
  );
  if (extra.length > 0) {
    throw invalidInput(
      `\`inputs\` may only hold text, past_user_inputs and generated_responses (got ${extra.join(', ')})`,
    );
  }
  if (typeof o.text !== 'string')
    throw invalidInput(`\`inputs.text\` must be a string (got ${describeValue(o.text)})`);
  return {
    text: checkText('inputs.text', o.text),
    past: stringList(o.past_user_inputs, 'inputs.past_user_inputs'),
    responses: stringList(o.generated_responses, 'inputs.generated_responses'),
  };
}

/** The chat of a conversation: user and assistant turns interleaved, user first, then `text`. */
export function conversationMessages(c: Conversation): ChatMessage[] {
  const messages: ChatMessage[] = [];
  const turns = Math.max(c.past.length, c.responses.length);
  for (let i = 0; i < turns; i++) {
    const user = c.past[i];
    const answer = c.responses[i];
    if (user !== undefined) messages.push({ role: 'user', content: user });
    if (answer !== undefined) messages.push({ role: 'assistant', content: answer });
  }
  messages.push({ role: 'user', content: c.text });
  return messages;
}

function create(ctx: TaskContext) {
  const gc = generationContext(ctx, 'conversational', ctx.options.generation ?? {});
  if (gc.chat === null) {
    throw invalidInput(
      `model ${ctx.model.id} has no chat template (chat_template.jinja or chat_template in tokenizer_config.json), which the conversational task needs`,
    );
  }
  // Greedy with 256 new tokens unless the model's files say otherwise (the pipeline's own defaults).
  gc.settings = { ...gc.settings, do_sample: false };
  return async (inputs: unknown, parameters: unknown, call?: CallOptions): Promise<ConversationalOutput> => {
    const conv = parseConversation(inputs);
    const params = parametersObject(parameters);
    for (const key of Object.keys(params)) {
      if (!PARAMETERS.has(key) && params[key] !== undefined) {
        throw invalidInput(`\`${key}\` is not a conversational parameter`);
      }
    }
    const rp = resolveParameters(gc, { ...params, return_full_text: false });
    const messages = conversationMessages(conv);
    const [first] = await generateOne(gc, { kind: 'chat', messages }, rp, {
      ...(call?.signal !== undefined && { signal: call.signal }),
      ...(call?.onEvent !== undefined && { onEvent: call.onEvent }),
    });
    const answer = String(first?.generated_text ?? '');
    return {
      generated_text: answer,
      conversation: {
        past_user_inputs: [...conv.past, conv.text],
        generated_responses: [...conv.responses, answer],
      },
    };
  };
}

const conversational: TaskDefinition = { create };
export default conversational;
