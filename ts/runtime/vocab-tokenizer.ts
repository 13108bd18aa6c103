/**
 * Tokenizers for models that ship only slow-tokenizer files. A WordPiece vocabulary
 * (`vocab.txt`, e.g. TAPAS) gets a BERT-style fast tokenizer built from it, so that the loaded
 * model has a `Tokenizer` (special tokens, pad id, decoding); tasks that need the model's own
 * slow tokenizer (TAPAS) load it themselves. A Marian folder (`source.spm`, `target.spm`,
 * `vocab.json`, as opus-mt exports ship) gets a tokenizer that encodes and decodes as
 * `MarianTokenizer`.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
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
  const config = readIfPresent(path.join(dir, 'tokenizer_config.json'));
  const map = readIfPresent(path.join(dir, 'special_tokens_map.json'));
  const marian = marianTokenizer(dir, ref, config, map);
  if (marian !== null) return marian;
  const vocab = readIfPresent(path.join(dir, 'vocab.txt'));
  if (vocab === undefined) return null;
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

/** The largest SentencePiece model file read (published ones are a few MB). */
const MAX_SPM_BYTES = 64 * 1024 * 1024;

/**
 * `MarianTokenizer`'s files: `source.spm` (the SentencePiece model that cuts the input) and
 * `vocab.json` (the ids); `target.spm` only decodes the reference's targets, whose pieces
 * `vocab.json` already holds. Null when either file is missing.
 */
function marianTokenizer(
  dir: string,
  ref: string,
  config: string | undefined,
  map: string | undefined,
): Tokenizer | null {
  const spmFile = path.join(dir, 'source.spm');
  const vocabFile = path.join(dir, 'vocab.json');
  if (!existsSync(spmFile) || !existsSync(vocabFile)) return null;
  if (config !== undefined && /"separate_vocabs"\s*:\s*true/.test(config))
    throw new ModelError(
      'ERR_MODEL_LOAD',
      `model ${ref}: a Marian tokenizer with separate source and target vocabularies is not supported`,
    );
  const size = statSync(spmFile).size;
  if (size > MAX_SPM_BYTES)
    throw new ModelError(
      'ERR_MODEL_LOAD',
      `model ${ref}: source.spm is ${size} bytes, more than the limit of ${MAX_SPM_BYTES}`,
    );
  try {
    return Tokenizer.fromMarian(readFileSync(spmFile), readFileSync(vocabFile, 'utf8'), config, map);
  } catch (err) {
    throw new ModelError('ERR_MODEL_LOAD', `model ${ref}: ${(err as Error).message}`);
  }
}
