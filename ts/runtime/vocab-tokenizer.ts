/**
 * Models that ship only a slow-tokenizer WordPiece vocabulary (`vocab.txt`, e.g. TAPAS) get a
 * BERT-style fast tokenizer built from it, so that the loaded model has a `Tokenizer` (special
 * tokens, pad id, decoding). Tasks that need the model's own slow tokenizer (TAPAS) load it
 * themselves.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ModelError } from '../errors.js';
import { Tokenizer } from '../tokenizer.js';

function readIfPresent(file: string): string | undefined {
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
}

/** The `tokenizer.json` text of a BERT WordPiece tokenizer on `vocab` (one token per line). */
export function wordPieceTokenizerJson(vocab: string, lowercase: boolean): string {
  const tokens: Record<string, number> = {};
  const lines = vocab.split('\n');
  if (lines.at(-1) === '') lines.pop();
  for (const [i, line] of lines.entries()) tokens[line.endsWith('\r') ? line.slice(0, -1) : line] = i;
  const unk = Object.hasOwn(tokens, '[UNK]') ? '[UNK]' : (lines[0] ?? '[UNK]');
  return JSON.stringify({
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [],
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: null,
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: unk,
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: tokens,
    },
  });
}

/**
 * A `Tokenizer` for a folder with `vocab.txt` (and optionally `tokenizer_config.json` and
 * `special_tokens_map.json`) but no `tokenizer.json`; null when there is no `vocab.txt`.
 */
export function vocabTokenizer(dir: string, ref: string): Tokenizer | null {
  const vocab = readIfPresent(path.join(dir, 'vocab.txt'));
  if (vocab === undefined) return null;
  const config = readIfPresent(path.join(dir, 'tokenizer_config.json'));
  const map = readIfPresent(path.join(dir, 'special_tokens_map.json'));
  let lowercase = true;
  if (config !== undefined) {
    try {
      const parsed = JSON.parse(config) as { do_lower_case?: unknown };
      if (typeof parsed.do_lower_case === 'boolean') lowercase = parsed.do_lower_case;
    } catch {
      throw new ModelError('ERR_MODEL_LOAD', `model ${ref}: tokenizer_config.json is not valid JSON`);
    }
  }
  return Tokenizer.fromJSON(wordPieceTokenizerJson(vocab, lowercase), config, map);
}
