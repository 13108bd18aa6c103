/**
 * Task inference from a model's `config.json` (`architectures`, `model_type`) and the presence
 * of a sentence-transformers `modules.json`, as the hub's pipeline tags are derived.
 */

/** Architecture-name suffixes, most specific first. */
const SUFFIX_TASKS: ReadonlyArray<readonly [string, string]> = [
  ['ForTokenClassification', 'token-classification'],
  ['ForSequenceClassification', 'text-classification'],
  ['ForMaskedLM', 'fill-mask'],
  ['ForQuestionAnswering', 'question-answering'],
  ['ForTableQuestionAnswering', 'table-question-answering'],
  ['ForCausalLM', 'text-generation'],
  ['LMHeadModel', 'text-generation'],
  ['ForSpeechSeq2Seq', 'automatic-speech-recognition'],
  ['ForCTC', 'automatic-speech-recognition'],
  ['ForAudioClassification', 'audio-classification'],
  ['ForImageClassification', 'image-classification'],
  ['ForImageClassificationWithTeacher', 'image-classification'],
  ['ForObjectDetection', 'object-detection'],
  ['ForSemanticSegmentation', 'image-segmentation'],
  ['ForInstanceSegmentation', 'image-segmentation'],
  ['ForUniversalSegmentation', 'image-segmentation'],
  ['ForImageSegmentation', 'image-segmentation'],
  // DetrForSegmentation (panoptic DETR).
  ['ForSegmentation', 'image-segmentation'],
  ['ForDepthEstimation', 'depth-estimation'],
  ['ForVision2Seq', 'image-to-text'],
];

/** `...ForConditionalGeneration` depends on the model family. */
const CONDITIONAL_GENERATION_BY_TYPE: Record<string, string> = {
  whisper: 'automatic-speech-recognition',
  speech_to_text: 'automatic-speech-recognition',
  'vision-encoder-decoder': 'image-to-text',
  blip: 'image-to-text',
  marian: 'translation',
  m2m_100: 'translation',
  nllb: 'translation',
};

/** Speech encoders whose `...ForSequenceClassification` classifies audio, not text. */
const AUDIO_MODEL_TYPES: ReadonlySet<string> = new Set([
  'wav2vec2',
  'wav2vec2-conformer',
  'wav2vec2-bert',
  'hubert',
  'wavlm',
  'data2vec-audio',
  'unispeech',
  'unispeech-sat',
  'sew',
  'sew-d',
  'whisper',
  'audio-spectrogram-transformer',
]);

/** Whole architecture names that do not follow the suffix rules. */
const EXACT_TASKS: Record<string, string> = {
  MarianMTModel: 'translation',
  VisionEncoderDecoderModel: 'image-to-text',
  CLIPModel: 'zero-shot-image-classification',
  SiglipModel: 'zero-shot-image-classification',
};

interface ConfigShape {
  architectures?: unknown;
  model_type?: unknown;
}

/**
 * The task a model serves, from its parsed `config.json`; `undefined` when it cannot be told.
 * A sentence-transformers model (one with `modules.json`) is `feature-extraction` (it also
 * serves `sentence-similarity`).
 */
export function inferTask(config: unknown, hasSentenceTransformersModules: boolean): string | undefined {
  if (hasSentenceTransformersModules) return 'feature-extraction';
  if (config === null || typeof config !== 'object') return undefined;
  const { architectures, model_type: modelType } = config as ConfigShape;
  const archs = Array.isArray(architectures) ? architectures.filter((a) => typeof a === 'string') : [];
  for (const arch of archs) {
    const exact = EXACT_TASKS[arch];
    if (exact) return exact;
    if (arch.endsWith('ForConditionalGeneration')) {
      return (
        (typeof modelType === 'string' && CONDITIONAL_GENERATION_BY_TYPE[modelType]) || 'text2text-generation'
      );
    }
    if (modelType === 'tapas' && arch.endsWith('ForQuestionAnswering')) return 'table-question-answering';
    if (
      typeof modelType === 'string' &&
      AUDIO_MODEL_TYPES.has(modelType) &&
      arch.endsWith('ForSequenceClassification')
    ) {
      return 'audio-classification';
    }
    for (const [suffix, task] of SUFFIX_TASKS) {
      if (arch.endsWith(suffix)) return task;
    }
    if (arch.endsWith('Model')) return 'feature-extraction';
  }
  return undefined;
}
