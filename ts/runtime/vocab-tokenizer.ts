/**
 * Tokenizers for models that ship only slow-tokenizer files. A WordPiece vocabulary
 * (`vocab.txt`, e.g. TAPAS) gets a BERT-style fast tokenizer built from it, so that the loaded
 * model has a `Tokenizer` (special tokens, pad id, decoding); tasks that need the model's own
 * slow tokenizer (TAPAS) load it themselves. A Marian folder (`source.spm`, `target.spm`,
 * `vocab.json`, as opus-mt exports ship) gets a tokenizer that encodes and decodes as
 * `MarianTokenizer`; M2M100 and Speech2Text folders (`sentencepiece.bpe.model`, `vocab.json`) get
 * tokenizers that follow `M2M100Tokenizer` and `Speech2TextTokenizer`.
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
  const files: SlowFiles = { dir, ref, config, map, settings: configSettings(config, ref) };
  const slow = marianTokenizer(files) ?? sentencePieceBpeTokenizer(files);
  if (slow !== null) return slow;
  const vocab = readIfPresent(path.join(dir, 'vocab.txt'));
  if (vocab === undefined) return null;
  const lower = files.settings().do_lower_case;
  const lowercase = typeof lower === 'boolean' ? lower : true;
  return Tokenizer.fromJSON(wordPieceTokenizerJson(vocab, lowercase), config, map);
}

/** A folder's slow-tokenizer inputs: its configuration texts, and the configuration parsed. */
interface SlowFiles {
  dir: string;
  ref: string;
  config: string | undefined;
  map: string | undefined;
  /** `tokenizer_config.json` parsed (once, when first asked; {} without one). */
  settings: () => Record<string, unknown>;
}

/** Parses `tokenizer_config.json` on first use; invalid JSON is a load error. */
function configSettings(config: string | undefined, ref: string): () => Record<string, unknown> {
  let parsed: Record<string, unknown> | undefined;
  return () => {
    if (parsed !== undefined) return parsed;
    let value: unknown = {};
    try {
      if (config !== undefined) value = JSON.parse(config);
    } catch {
      throw new ModelError('ERR_MODEL_LOAD', `model ${ref}: tokenizer_config.json is not valid JSON`);
    }
    parsed = value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
    return parsed;
  };
}

/** The largest SentencePiece model file read (published ones are a few MB). */
const MAX_SPM_BYTES = 64 * 1024 * 1024;

/** Fails for a SentencePiece model file over `MAX_SPM_BYTES` (an absent one passes). */
function checkSpmSize(file: string, ref: string): void {
  const size = existsSync(file) ? statSync(file).size : 0;
  if (size > MAX_SPM_BYTES)
    throw new ModelError(
      'ERR_MODEL_LOAD',
      `model ${ref}: ${path.basename(file)} is ${size} bytes, more than the limit of ${MAX_SPM_BYTES}`,
    );
}

/**
 * `MarianTokenizer`'s files: `source.spm` (the SentencePiece model that cuts the input),
 * `vocab.json` (the ids), `target.spm` (how generated pieces decode) and, with
 * `separate_vocabs`, `target_vocab.json` (the generated ids). Null without `source.spm` and
 * `vocab.json`.
 */
function marianTokenizer({ dir, ref, config, map, settings }: SlowFiles): Tokenizer | null {
  const spmFile = path.join(dir, 'source.spm');
  const vocabFile = path.join(dir, 'vocab.json');
  if (!existsSync(spmFile) || !existsSync(vocabFile)) return null;
  const separate = settings().separate_vocabs === true;
  const targetSpmFile = path.join(dir, 'target.spm');
  const targetVocabFile = path.join(dir, 'target_vocab.json');
  if (separate && !existsSync(targetVocabFile))
    throw new ModelError(
      'ERR_MODEL_LOAD',
      `model ${ref}: separate_vocabs is set but target_vocab.json is missing`,
    );
  for (const file of [spmFile, targetSpmFile]) checkSpmSize(file, ref);
  const target: { spm?: Uint8Array; vocabJson?: string } = {};
  if (existsSync(targetSpmFile)) target.spm = readFileSync(targetSpmFile);
  if (separate) target.vocabJson = readFileSync(targetVocabFile, 'utf8');
  try {
    return Tokenizer.fromMarian(readFileSync(spmFile), readFileSync(vocabFile, 'utf8'), config, map, target);
  } catch (err) {
    throw new ModelError('ERR_MODEL_LOAD', `model ${ref}: ${(err as Error).message}`);
  }
}

/**
 * The tokenizer of a model folder: its `tokenizer.json`, or one built from a slow tokenizer's
 * files (see `vocabTokenizer`); null when there is neither.
 */
export function folderTokenizer(dir: string, ref: string = dir): Tokenizer | null {
  if (existsSync(path.join(dir, 'tokenizer.json'))) return Tokenizer.fromFile(dir);
  return vocabTokenizer(dir, ref);
}

/** The error for a model folder without a tokenizer. */
export function noTokenizerError(ref: string): ModelError {
  return new ModelError(
    'ERR_MODEL_LOAD',
    `model ${ref} has no tokenizer.json, nor a slow tokenizer's files it can be built from (vocab.txt; Marian's source.spm and vocab.json; M2M100's or Speech2Text's sentencepiece.bpe.model and vocab.json)`,
  );
}

/** `folderTokenizer`, failing where the folder has no tokenizer. */
export function openFolderTokenizer(dir: string, ref: string = dir): Tokenizer {
  const tokenizer = folderTokenizer(dir, ref);
  if (tokenizer === null) throw noTokenizerError(ref);
  return tokenizer;
}

/**
 * The class a folder with `sentencepiece.bpe.model` and `vocab.json` names: `tokenizer_config.json`'s
 * `tokenizer_class`, else the one transformers maps config.json's `model_type` to.
 */
function slowClassOf(dir: string, parsed: Record<string, unknown>): unknown {
  if (parsed.tokenizer_class !== undefined) return parsed.tokenizer_class;
  const configText = readIfPresent(path.join(dir, 'config.json'));
  if (configText === undefined) return undefined;
  try {
    const modelType = (JSON.parse(configText) as { model_type?: unknown }).model_type;
    if (modelType === 'speech_to_text') return 'Speech2TextTokenizer';
    if (modelType === 'm2m_100') return 'M2M100Tokenizer';
  } catch {
    // config.json's own reader reports it.
  }
  return undefined;
}

/**
 * `M2M100Tokenizer`'s and `Speech2TextTokenizer`'s files: `sentencepiece.bpe.model` and
 * `vocab.json`, with the class named in `tokenizer_config.json` (or by config.json's model type).
 * An M2M100 tokenizer's added tokens are its language tokens. Null otherwise.
 */
function sentencePieceBpeTokenizer({ dir, ref, config, map, settings }: SlowFiles): Tokenizer | null {
  const spmFile = path.join(dir, 'sentencepiece.bpe.model');
  const vocabFile = path.join(dir, 'vocab.json');
  if (!existsSync(spmFile) || !existsSync(vocabFile)) return null;
  const parsed = settings();
  const className = slowClassOf(dir, parsed);
  if (className !== 'M2M100Tokenizer' && className !== 'Speech2TextTokenizer') return null;
  checkSpmSize(spmFile, ref);
  try {
    if (className === 'Speech2TextTokenizer') {
      return Tokenizer.fromSpeech2Text(readFileSync(spmFile), readFileSync(vocabFile, 'utf8'), config, map);
    }
    const set = typeof parsed.language_codes === 'string' ? parsed.language_codes : 'm2m100';
    const codes = M2M100_LANGUAGES[set];
    if (codes === undefined) throw new Error(`unknown M2M100 language_codes ${JSON.stringify(set)}`);
    const languages = codes.map((code) => `__${code}__`);
    return Tokenizer.fromM2M100(
      readFileSync(spmFile),
      readFileSync(vocabFile, 'utf8'),
      config,
      map,
      languages,
    );
  } catch (err) {
    throw new ModelError('ERR_MODEL_LOAD', `model ${ref}: ${(err as Error).message}`);
  }
}

/**
 * The language codes `M2M100Tokenizer` knows for each `language_codes` value: it makes a
 * `__xx__` token for each, with ids after `vocab.json`'s entries.
 */
const M2M100_LANGUAGES: Record<string, readonly string[]> = {
  m2m100: [
    'af',
    'am',
    'ar',
    'ast',
    'az',
    'ba',
    'be',
    'bg',
    'bn',
    'br',
    'bs',
    'ca',
    'ceb',
    'cs',
    'cy',
    'da',
    'de',
    'el',
    'en',
    'es',
    'et',
    'fa',
    'ff',
    'fi',
    'fr',
    'fy',
    'ga',
    'gd',
    'gl',
    'gu',
    'ha',
    'he',
    'hi',
    'hr',
    'ht',
    'hu',
    'hy',
    'id',
    'ig',
    'ilo',
    'is',
    'it',
    'ja',
    'jv',
    'ka',
    'kk',
    'km',
    'kn',
    'ko',
    'lb',
    'lg',
    'ln',
    'lo',
    'lt',
    'lv',
    'mg',
    'mk',
    'ml',
    'mn',
    'mr',
    'ms',
    'my',
    'ne',
    'nl',
    'no',
    'ns',
    'oc',
    'or',
    'pa',
    'pl',
    'ps',
    'pt',
    'ro',
    'ru',
    'sd',
    'si',
    'sk',
    'sl',
    'so',
    'sq',
    'sr',
    'ss',
    'su',
    'sv',
    'sw',
    'ta',
    'th',
    'tl',
    'tn',
    'tr',
    'uk',
    'ur',
    'uz',
    'vi',
    'wo',
    'xh',
    'yi',
    'yo',
    'zh',
    'zu',
  ],
  wmt21: ['en', 'ha', 'is', 'ja', 'cs', 'ru', 'zh', 'de'],
};
