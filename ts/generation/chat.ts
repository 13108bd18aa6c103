/**
 * Chat templates: the model's Jinja template (chat_template.jinja, or `chat_template` in
 * tokenizer_config.json) rendered with @huggingface/jinja as transformers'
 * `apply_chat_template` renders it: the messages, the tokenizer's special tokens,
 * `add_generation_prompt`, and `continue_final_message` (the rendered text is cut right after
 * the final message's content so the model continues it).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Environment, Interpreter, Template } from '@huggingface/jinja';
import { InvalidInputError } from '../errors.js';
import { pyRstrip, pyStrip } from '../tasks/text.js';
import type { Tokenizer } from '../tokenizer.js';

/** What transformers appends to the final message to find where its content ends. */
const CONTINUE_TAG = 'CONTINUE_FINAL_MESSAGE_TAG ';

const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/**
 * Python's `datetime.now().strftime(format)` in the C locale (English names, whatever the
 * process locale); codes it does not know are left as they are.
 */
export function strftimeNow(format: string, now: Date = new Date()): string {
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  const hour12 = now.getHours() % 12 === 0 ? 12 : now.getHours() % 12;
  const start = new Date(now.getFullYear(), 0, 1);
  const dayOfYear =
    Math.round(
      (new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime() - start.getTime()) / 86_400_000,
    ) + 1;
  const codes: Record<string, () => string> = {
    Y: () => String(now.getFullYear()),
    y: () => pad(now.getFullYear() % 100),
    m: () => pad(now.getMonth() + 1),
    d: () => pad(now.getDate()),
    e: () => String(now.getDate()).padStart(2, ' '),
    B: () => MONTHS[now.getMonth()] as string,
    b: () => (MONTHS[now.getMonth()] as string).slice(0, 3),
    h: () => (MONTHS[now.getMonth()] as string).slice(0, 3),
    A: () => DAYS[now.getDay()] as string,
    a: () => (DAYS[now.getDay()] as string).slice(0, 3),
    H: () => pad(now.getHours()),
    I: () => pad(hour12),
    M: () => pad(now.getMinutes()),
    S: () => pad(now.getSeconds()),
    p: () => (now.getHours() < 12 ? 'AM' : 'PM'),
    j: () => pad(dayOfYear, 3),
    '%': () => '%',
  };
  return format.replace(/%(.)/gsu, (all, code: string) => codes[code]?.() ?? all);
}

/** Python's `range` as Jinja templates call it. */
function pyRange(start: number, stop?: number, step = 1): number[] {
  const [from, to] = stop === undefined ? [0, start] : [start, stop];
  if (step === 0) throw new Error('range() arg 3 must not be zero');
  const out: number[] = [];
  for (let i = from; step > 0 ? i < to : i > to; i += step) out.push(i);
  return out;
}

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
    // As transformers' special_tokens_map: only tokens that are set (an empty list is not).
    const additional = additionalSpecialTokens(dir);
    if (additional.length > 0) specials.additional_special_tokens = additional;
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
    // As transformers does: a tag after the final message's content marks where it ends.
    const last = messages[messages.length - 1];
    const final = last?.content ?? '';
    const chat =
      opts.continueFinalMessage && last !== undefined
        ? [...messages.slice(0, -1), { ...last, content: final + CONTINUE_TAG }]
        : messages;
    let rendered: string;
    try {
      // The environment transformers renders with: Python's globals (strftime_now in the C
      // locale), `tools` and `documents` as None, the special tokens, then the call's values.
      const env = new Environment();
      const globals: Record<string, unknown> = {
        false: false,
        true: true,
        none: null,
        False: false,
        True: true,
        None: null,
        raise_exception: (message: unknown) => {
          throw new Error(String(message));
        },
        range: pyRange,
        strftime_now: (format: unknown) => strftimeNow(String(format)),
        tools: null,
        documents: null,
        ...this.#specials,
        messages: chat,
        add_generation_prompt: opts.addGenerationPrompt,
      };
      for (const [key, value] of Object.entries(globals)) env.set(key, value);
      rendered = String(new Interpreter(env).run(this.#template.parsed).value);
    } catch (err) {
      throw new InvalidInputError(
        'ERR_INVALID_INPUT',
        `the chat template failed on these messages: ${(err as Error).message}`,
        { cause: err },
      );
    }
    if (!opts.continueFinalMessage) return rendered;
    const tag = CONTINUE_TAG.trim();
    if (!rendered.includes(pyStrip(final)) || !rendered.includes(tag)) {
      throw new InvalidInputError(
        'ERR_INVALID_INPUT',
        'continue_final_message is set but the final message does not appear in the chat after applying the chat template! This can happen if the chat template deletes portions of the final message. Please verify the chat template and final message in your chat to ensure they are compatible.',
      );
    }
    const at = rendered.lastIndexOf(tag);
    // A template that keeps spacing keeps the tag's space; one that trimmed it trimmed the
    // message's trailing space too.
    return rendered.slice(at, at + CONTINUE_TAG.length) === CONTINUE_TAG
      ? rendered.slice(0, at)
      : pyRstrip(rendered.slice(0, at));
  }
}
