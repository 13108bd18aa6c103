/**
 * CTC decoding as `Wav2Vec2CTCTokenizer.decode` does it (the tokenizer of wav2vec2, HuBERT,
 * WavLM, Data2VecAudio... `ForCTC` models; `vocab.json` + `tokenizer_config.json`): ids to
 * tokens, repeated tokens grouped, the pad (blank) token dropped, the word delimiter replaced
 * by a space, joined and stripped; with offsets per character (in logit frames) and per word.
 * Special tokens are kept (the pipeline decodes CTC output with `skip_special_tokens=False`).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ModelError } from '../errors.js';

export interface CharOffset {
  char: string;
  start_offset: number;
  end_offset: number;
}

export interface WordOffset {
  word: string;
  start_offset: number;
  end_offset: number;
}

export interface CtcDecoded {
  text: string;
  charOffsets: CharOffset[];
  wordOffsets: WordOffset[];
}

function readJson(file: string): Record<string, unknown> | null {
  if (!existsSync(file)) return null;
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
}

function tokenString(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && typeof (v as { content?: unknown }).content === 'string') {
    return (v as { content: string }).content;
  }
  return null;
}

/** Whether a character is whitespace to Python's `str.strip()`. */
function isPySpace(c: string): boolean {
  const code = c.codePointAt(0) ?? 0;
  return /\s/u.test(c) || (code >= 0x1c && code <= 0x1f) || code === 0x85;
}

/** Python's `str.strip()`. */
function pyStrip(s: string): string {
  const chars = [...s];
  let a = 0;
  let b = chars.length;
  while (a < b && isPySpace(chars[a] as string)) a++;
  while (b > a && isPySpace(chars[b - 1] as string)) b--;
  return chars.slice(a, b).join('');
}

/** `PreTrainedTokenizerBase.clean_up_tokenization`. */
function cleanUp(text: string): string {
  return text
    .replaceAll(' .', '.')
    .replaceAll(' ?', '?')
    .replaceAll(' !', '!')
    .replaceAll(' ,', ',')
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}

export class CtcTokenizer {
  readonly #idToToken: Map<number, string>;
  readonly padToken: string;
  readonly unkToken: string;
  readonly wordDelimiter: string;
  readonly replaceWordDelimiterChar: string;
  readonly doLowerCase: boolean;
  readonly cleanUpTokenizationSpaces: boolean;

  constructor(options: {
    vocab: Record<string, number>;
    added?: Map<number, string>;
    padToken?: string;
    unkToken?: string;
    wordDelimiter?: string;
    replaceWordDelimiterChar?: string;
    doLowerCase?: boolean;
    cleanUpTokenizationSpaces?: boolean;
  }) {
    this.#idToToken = new Map();
    for (const [token, id] of Object.entries(options.vocab)) this.#idToToken.set(id, token);
    for (const [id, token] of options.added ?? []) this.#idToToken.set(id, token);
    this.padToken = options.padToken ?? '<pad>';
    this.unkToken = options.unkToken ?? '<unk>';
    this.wordDelimiter = options.wordDelimiter ?? '|';
    this.replaceWordDelimiterChar = options.replaceWordDelimiterChar ?? ' ';
    this.doLowerCase = options.doLowerCase ?? false;
    this.cleanUpTokenizationSpaces = options.cleanUpTokenizationSpaces ?? false;
  }

  /** Loads `vocab.json`, `tokenizer_config.json` and `special_tokens_map.json` from a model folder. */
  static fromDir(dir: string, id: string): CtcTokenizer {
    const vocabRaw = readJson(path.join(dir, 'vocab.json'));
    if (vocabRaw === null) {
      throw new ModelError('ERR_MODEL_LOAD', `CTC model ${id} has no vocab.json (Wav2Vec2CTCTokenizer)`);
    }
    const config = readJson(path.join(dir, 'tokenizer_config.json')) ?? {};
    const specials = readJson(path.join(dir, 'special_tokens_map.json')) ?? {};
    let vocab = vocabRaw;
    const target = config.target_lang;
    if (typeof target === 'string') {
      const nested = vocabRaw[target];
      if (typeof nested !== 'object' || nested === null) {
        throw new ModelError('ERR_MODEL_LOAD', `CTC model ${id}: vocab.json has no language ${target}`);
      }
      vocab = nested as Record<string, unknown>;
    }
    const entries: Record<string, number> = {};
    for (const [token, v] of Object.entries(vocab)) {
      if (typeof v === 'number' && Number.isInteger(v)) entries[token] = v;
    }
    const added = new Map<number, string>();
    const decoder = config.added_tokens_decoder;
    if (typeof decoder === 'object' && decoder !== null) {
      for (const [k, v] of Object.entries(decoder)) {
        const token = tokenString(v);
        if (token !== null && /^\d+$/.test(k)) added.set(Number(k), token);
      }
    }
    const pick = (key: string, fallback: string) =>
      tokenString(config[key]) ?? tokenString(specials[key]) ?? fallback;
    return new CtcTokenizer({
      vocab: entries,
      added,
      padToken: pick('pad_token', '<pad>'),
      unkToken: pick('unk_token', '<unk>'),
      wordDelimiter: pick('word_delimiter_token', '|'),
      replaceWordDelimiterChar:
        typeof config.replace_word_delimiter_char === 'string' ? config.replace_word_delimiter_char : ' ',
      doLowerCase: config.do_lower_case === true,
      cleanUpTokenizationSpaces: config.clean_up_tokenization_spaces === true,
    });
  }

  /** `convert_ids_to_tokens`: unknown ids become the unk token. */
  token(id: number): string {
    return this.#idToToken.get(id) ?? this.unkToken;
  }

  /** Decodes argmax ids (one per logit frame). */
  decode(ids: ArrayLike<number>): CtcDecoded {
    if (ids.length === 0) return { text: '', charOffsets: [], wordOffsets: [] };
    // Group repeats: (token, start frame, end frame).
    const groups: CharOffset[] = [];
    let prev: string | null = null;
    for (let i = 0; i < ids.length; i++) {
      const t = this.token(ids[i] as number);
      const last = groups[groups.length - 1];
      if (t === prev && last !== undefined) last.end_offset = i + 1;
      else groups.push({ char: t, start_offset: i, end_offset: i + 1 });
      prev = t;
    }
    const kept = groups.filter((g) => g.char !== this.padToken);
    const charOffsets = kept.map((g) => ({
      char: g.char === this.wordDelimiter ? this.replaceWordDelimiterChar : g.char,
      start_offset: g.start_offset,
      end_offset: g.end_offset,
    }));
    let text = pyStrip(charOffsets.map((c) => c.char).join(''));
    if (this.doLowerCase) text = text.toLowerCase();
    if (this.cleanUpTokenizationSpaces) text = cleanUp(text);
    return { text, charOffsets, wordOffsets: wordOffsets(charOffsets, this.replaceWordDelimiterChar) };
  }
}

/** `Wav2Vec2CTCTokenizer._get_word_offsets`. */
export function wordOffsets(chars: readonly CharOffset[], delimiter: string): WordOffset[] {
  const out: WordOffset[] = [];
  let lastSpace = true;
  let word = '';
  let start = 0;
  let end = 0;
  for (const c of chars) {
    const space = c.char === delimiter;
    if (space === lastSpace) {
      end = c.end_offset;
      word += c.char;
    } else if (space) {
      out.push({ word, start_offset: start, end_offset: end });
    } else {
      start = c.start_offset;
      end = c.end_offset;
      word = c.char;
    }
    lastSpace = space;
  }
  if (!lastSpace) out.push({ word, start_offset: start, end_offset: end });
  return out;
}
