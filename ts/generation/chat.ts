/**
 * Chat templates: the model's Jinja template (chat_template.jinja, or `chat_template` in
 * tokenizer_config.json) rendered with @huggingface/jinja as transformers'
 * `apply_chat_template` renders it: the messages, the tokenizer's special tokens,
 * `add_generation_prompt`, and `continue_final_message` (the rendered text is cut right after
 * the final message's content so the model continues it).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Template } from '@huggingface/jinja';
import { InvalidInputError } from '../errors.js';
import type { Tokenizer } from '../tokenizer.js';

/** One chat message: `role` and `content` strings (extra keys are passed to the template). */
export interface ChatMessage {
  role: string;
  content: string;
  [key: string]: unknown;
}

/** The chat template source of a model folder, or null when it has none. */
export function readChatTemplate(dir: string): string | null {
  const file = path.join(dir, 'chat_template.jinja');
  if (existsSync(file)) return readFileSync(file, 'utf8');
  const cfgFile = path.join(dir, 'tokenizer_config.json');
  if (!existsSync(cfgFile)) return null;
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(readFileSync(cfgFile, 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
  const t = cfg.chat_template;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    // Named templates: the "default" one.
    const named = t.find(
      (x): x is { name: string; template: string } =>
        typeof x === 'object' && x !== null && (x as { name?: unknown }).name === 'default',
    );
    return named?.template ?? null;
  }
  return null;
}

/** Extra special-token strings of tokenizer_config.json (`additional_special_tokens`). */
function additionalSpecialTokens(dir: string): string[] {
  try {
    const cfg = JSON.parse(readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    const list = cfg.additional_special_tokens;
    if (!Array.isArray(list)) return [];
    return list.flatMap((t) =>
      typeof t === 'string'
        ? [t]
        : typeof t === 'object' && t !== null && typeof (t as { content?: unknown }).content === 'string'
          ? [(t as { content: string }).content]
          : [],
    );
  } catch {
    return [];
  }
}

/** A compiled chat template bound to a tokenizer's special tokens. */
export class ChatTemplate {
  readonly source: string;
  readonly #template: Template;
  readonly #specials: Record<string, unknown>;

  private constructor(source: string, specials: Record<string, unknown>) {
    this.source = source;
    this.#template = new Template(source);
    this.#specials = specials;
  }

  /** The folder's template, or null when it has none. */
  static fromModelDir(dir: string, tokenizer: Tokenizer): ChatTemplate | null {
    const source = readChatTemplate(dir);
    if (source === null) return null;
    const s = tokenizer.specialTokens;
    const specials: Record<string, unknown> = {};
    for (const key of [
      'bos_token',
      'eos_token',
      'unk_token',
      'pad_token',
      'sep_token',
      'cls_token',
      'mask_token',
    ] as const) {
      if (s[key] !== null) specials[key] = s[key];
    }
    specials.additional_special_tokens = additionalSpecialTokens(dir);
    return new ChatTemplate(source, specials);
  }

  /**
   * Renders `messages`. With `continueFinalMessage` the text ends right after the last
   * message's content (prefill); otherwise `addGenerationPrompt` appends the assistant header.
   */
  render(
    messages: ChatMessage[],
    opts: { addGenerationPrompt: boolean; continueFinalMessage: boolean },
  ): string {
    if (opts.addGenerationPrompt && opts.continueFinalMessage) {
      throw new InvalidInputError(
        'ERR_INVALID_INPUT',
        'continue_final_message and add_generation_prompt are not compatible. Use continue_final_message when you want the model to continue the final message, and add_generation_prompt when you want to add a header that will prompt it to generate a new assistant message instead.',
      );
    }
    let rendered: string;
    try {
      rendered = this.#template.render({
        ...this.#specials,
        messages,
        add_generation_prompt: opts.addGenerationPrompt,
      });
    } catch (err) {
      throw new InvalidInputError(
        'ERR_INVALID_INPUT',
        `the chat template failed on these messages: ${(err as Error).message}`,
        { cause: err },
      );
    }
    if (!opts.continueFinalMessage) return rendered;
    const final = (messages[messages.length - 1] as ChatMessage).content;
    const at = rendered.lastIndexOf(final.trim());
    if (final.trim() === '' || at < 0) {
      throw new InvalidInputError(
        'ERR_INVALID_INPUT',
        'continue_final_message is set but the final message does not appear in the chat after applying the chat template! This can happen if the chat template deletes portions of the final message. Please verify the chat template and final message in your chat to ensure they are compatible.',
      );
    }
    const lstripped = final.replace(/^\s+/, '');
    if (rendered.slice(at, at + lstripped.length) === final) return rendered.slice(0, at + lstripped.length);
    return rendered.slice(0, at + final.trim().length);
  }
}
