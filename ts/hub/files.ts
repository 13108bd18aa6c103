/**
 * Which files a model needs: the configuration and tokenizer files a task reads, and the ONNX
 * file chosen by dtype in either accepted layout (optimum: `model.onnx` at the root;
 * transformers.js: `onnx/model.onnx`, `onnx/model_quantized.onnx`, ...).
 */
import { InvalidInputError } from '../errors.js';

/** Weight formats, named as transformers.js names them. */
export const DTYPES = ['fp32', 'fp16', 'q8', 'int8', 'uint8', 'q4', 'q4f16', 'bnb4'] as const;
export type Dtype = (typeof DTYPES)[number];

/** File-name suffixes per dtype, in order of preference (`model<suffix>.onnx`). */
const DTYPE_SUFFIXES: Record<Dtype, readonly string[]> = {
  fp32: [''],
  fp16: ['_fp16'],
  q8: ['_quantized', '_int8'],
  int8: ['_int8', '_quantized'],
  uint8: ['_uint8'],
  q4: ['_q4'],
  q4f16: ['_q4f16'],
  bnb4: ['_bnb4'],
};

/** When no dtype is asked for: full precision first, then the formats that run well on CPU. */
const AUTO_ORDER: readonly Dtype[] = ['fp32', 'q8', 'int8', 'uint8', 'q4', 'fp16', 'q4f16', 'bnb4'];

export function parseDtype(dtype: unknown): Dtype | undefined {
  if (dtype === undefined || dtype === null || dtype === 'auto') return undefined;
  if (typeof dtype === 'string' && (DTYPES as readonly string[]).includes(dtype)) return dtype as Dtype;
  throw new InvalidInputError(
    'ERR_INVALID_ARGUMENT',
    `unknown dtype ${JSON.stringify(dtype)}; expected one of ${DTYPES.join(', ')} or auto`,
  );
}

/** Candidate paths of the ONNX file `name` (e.g. `model`) for a dtype, most preferred first. */
export function onnxCandidates(dtype: Dtype | undefined, name = 'model'): string[] {
  const dtypes = dtype === undefined ? AUTO_ORDER : [dtype];
  const out: string[] = [];
  for (const d of dtypes) {
    for (const suffix of DTYPE_SUFFIXES[d]) {
      for (const dir of ['onnx/', '']) {
        const candidate = `${dir}${name}${suffix}.onnx`;
        if (!out.includes(candidate)) out.push(candidate);
      }
    }
  }
  return out;
}

/** Every ONNX path either layout may hold for `name`, whatever the dtype. */
export function allOnnxCandidates(name = 'model'): string[] {
  return onnxCandidates(undefined, name);
}

/** The external-data files that may sit beside an ONNX file (`model.onnx_data`, `model.onnx.data`). */
export function externalDataCandidates(onnxFile: string): string[] {
  return [`${onnxFile}_data`, `${onnxFile}.data`];
}

export const CONFIG_FILE = 'config.json';
export const MODULES_FILE = 'modules.json';

const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];
const SENTENCE_TRANSFORMERS_FILES = [
  MODULES_FILE,
  'sentence_bert_config.json',
  'config_sentence_transformers.json',
  '1_Pooling/config.json',
];
const PREPROCESSOR_FILES = ['preprocessor_config.json'];
const GENERATION_FILES = ['generation_config.json', 'chat_template.jinja'];
/** Slow SentencePiece tokenizers: Marian (opus-mt exports ship no tokenizer.json), M2M100, Speech2Text. */
const SLOW_TOKENIZER_FILES = [
  'source.spm',
  'target.spm',
  'vocab.json',
  'target_vocab.json',
  'sentencepiece.bpe.model',
];
const SEQ2SEQ_TASKS = new Set(['summarization', 'translation', 'text2text-generation']);

const TEXT_TASKS = new Set([
  'token-classification',
  'text-classification',
  'fill-mask',
  'question-answering',
  'zero-shot-classification',
  'table-question-answering',
]);
const EMBEDDING_TASKS = new Set(['feature-extraction', 'sentence-similarity']);
const GENERATION_TASKS = new Set([
  'text-generation',
  'conversational',
  'summarization',
  'translation',
  'text2text-generation',
]);
const VISION_AUDIO_TASKS = new Set([
  'image-classification',
  'object-detection',
  'image-segmentation',
  'audio-classification',
  'zero-shot-image-classification',
  'depth-estimation',
]);
const PREPROCESSED_GENERATION_TASKS = new Set(['image-to-text']);
/**
 * Speech recognition's slow tokenizers: CTC models' `vocab.json` (Wav2Vec2CTCTokenizer) and
 * Speech2Text's `sentencepiece.bpe.model` with `vocab.json`.
 */
const SPEECH_TOKENIZER_FILES = ['vocab.json', 'sentencepiece.bpe.model'];

/**
 * The optional files (beyond `config.json` and the ONNX file) a task reads. An unknown or
 * undecided task gets them all. Files that the repository lacks are simply absent.
 */
export function optionalFilesFor(task: string | undefined): string[] {
  if (task !== undefined) {
    // TAPAS ships a slow-tokenizer vocab.txt only
    if (task === 'table-question-answering') return [...TOKENIZER_FILES, 'vocab.txt'];
    if (TEXT_TASKS.has(task)) return [...TOKENIZER_FILES];
    if (EMBEDDING_TASKS.has(task)) return [...TOKENIZER_FILES, ...SENTENCE_TRANSFORMERS_FILES];
    if (SEQ2SEQ_TASKS.has(task)) return [...TOKENIZER_FILES, ...SLOW_TOKENIZER_FILES, ...GENERATION_FILES];
    if (GENERATION_TASKS.has(task)) return [...TOKENIZER_FILES, ...GENERATION_FILES];
    if (VISION_AUDIO_TASKS.has(task)) return [...PREPROCESSOR_FILES];
    if (task === 'automatic-speech-recognition') {
      return [...TOKENIZER_FILES, ...SPEECH_TOKENIZER_FILES, ...PREPROCESSOR_FILES, ...GENERATION_FILES];
    }
    if (PREPROCESSED_GENERATION_TASKS.has(task)) {
      return [...TOKENIZER_FILES, ...PREPROCESSOR_FILES, ...GENERATION_FILES];
    }
  }
  return [
    ...TOKENIZER_FILES,
    ...SLOW_TOKENIZER_FILES,
    ...SENTENCE_TRANSFORMERS_FILES,
    ...PREPROCESSOR_FILES,
    ...GENERATION_FILES,
  ];
}

export function noOnnxFileError(
  onnxFiles: readonly string[],
  dtype: Dtype | undefined,
  where: string,
  name = 'model',
): InvalidInputError {
  const wanted = onnxCandidates(dtype, name).join(', ');
  const present = onnxFiles.length > 0 ? onnxFiles.join(', ') : 'none';
  const what = dtype === undefined ? `ONNX file "${name}"` : `ONNX file for dtype ${dtype}`;
  return new InvalidInputError(
    'ERR_NO_ONNX_FILE',
    `${where} has no ${what} (looked for ${wanted}); ONNX files present: ${present}`,
  );
}
