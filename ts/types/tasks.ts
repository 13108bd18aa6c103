/**
 * The input, parameter and output types of each task, keyed by HF task id. `pipeline(task)`
 * uses this map to type the pipe it returns. Each task adds one entry.
 */
import type {
  AudioClassificationOutput,
  AudioClassificationParameters,
  AudioInput,
  AutomaticSpeechRecognitionOutput,
  AutomaticSpeechRecognitionParameters,
} from './audio.js';
import type {
  FeatureExtractionBatchOutput,
  FeatureExtractionOutput,
  FeatureExtractionParameters,
} from './feature-extraction.js';
import type { FillMaskOutput, FillMaskParameters } from './fill-mask.js';
import type {
  QuestionAnsweringInputItem,
  QuestionAnsweringOutput,
  QuestionAnsweringParameters,
} from './question-answering.js';
import type {
  SentenceSimilarityInputItem,
  SentenceSimilarityOutput,
  SentenceSimilarityParameters,
} from './sentence-similarity.js';
import type {
  TableQuestionAnsweringInputItem,
  TableQuestionAnsweringOutput,
  TableQuestionAnsweringParameters,
} from './table-question-answering.js';
import type {
  TextClassificationInputItem,
  TextClassificationOutput,
  TextClassificationParameters,
} from './text-classification.js';
import type {
  ConversationalInput,
  ConversationalOutput,
  ConversationalParameters,
  TextGenerationInput,
  TextGenerationOutput,
  TextGenerationParameters,
} from './text-generation.js';
import type {
  SummarizationOutput,
  Text2TextGenerationOutput,
  Text2TextParameters,
  TranslationOutput,
  TranslationParameters,
} from './text2text.js';
import type { TokenClassificationOutput, TokenClassificationParameters } from './token-classification.js';
import type {
  ImageClassificationOutput,
  ImageClassificationParameters,
  ImageInput,
  ImageSegmentationOutput,
  ImageSegmentationParameters,
  ObjectDetectionOutput,
  ObjectDetectionParameters,
} from './vision.js';
import type {
  ZeroShotClassificationOutput,
  ZeroShotClassificationParameters,
} from './zero-shot-classification.js';

/** Per task: one input, its parameters, its output, and the batch (list) forms. */
export interface TaskTypes {
  'token-classification': {
    inputs: string;
    parameters: TokenClassificationParameters;
    output: TokenClassificationOutput;
    batchInputs: string[];
    batchOutput: TokenClassificationOutput[];
  };
  'text-classification': {
    inputs: TextClassificationInputItem;
    parameters: TextClassificationParameters;
    output: TextClassificationOutput;
    batchInputs: TextClassificationInputItem[];
    batchOutput: TextClassificationOutput[];
  };
  'zero-shot-classification': {
    inputs: string;
    parameters: ZeroShotClassificationParameters;
    output: ZeroShotClassificationOutput;
    batchInputs: string[];
    batchOutput: ZeroShotClassificationOutput[];
  };
  'fill-mask': {
    inputs: string;
    parameters: FillMaskParameters;
    output: FillMaskOutput;
    batchInputs: string[];
    batchOutput: FillMaskOutput[];
  };
  'question-answering': {
    inputs: QuestionAnsweringInputItem;
    parameters: QuestionAnsweringParameters;
    output: QuestionAnsweringOutput;
    batchInputs: QuestionAnsweringInputItem[];
    batchOutput: QuestionAnsweringOutput[];
  };
  'table-question-answering': {
    inputs: TableQuestionAnsweringInputItem;
    parameters: TableQuestionAnsweringParameters;
    output: TableQuestionAnsweringOutput;
    batchInputs: TableQuestionAnsweringInputItem[];
    batchOutput: TableQuestionAnsweringOutput | TableQuestionAnsweringOutput[];
  };
  'feature-extraction': {
    inputs: string;
    parameters: FeatureExtractionParameters;
    output: FeatureExtractionOutput;
    batchInputs: string[];
    batchOutput: FeatureExtractionBatchOutput;
  };
  'sentence-similarity': {
    inputs: SentenceSimilarityInputItem;
    parameters: SentenceSimilarityParameters;
    output: SentenceSimilarityOutput;
    batchInputs: SentenceSimilarityInputItem[];
    batchOutput: SentenceSimilarityOutput[];
  };
  'text-generation': {
    inputs: TextGenerationInput;
    parameters: TextGenerationParameters;
    output: TextGenerationOutput;
    batchInputs: TextGenerationInput[];
    batchOutput: TextGenerationOutput[];
  };
  'text2text-generation': {
    inputs: string;
    parameters: Text2TextParameters;
    output: Text2TextGenerationOutput;
    batchInputs: string[];
    batchOutput: Text2TextGenerationOutput | Text2TextGenerationOutput[];
  };
  summarization: {
    inputs: string;
    parameters: Text2TextParameters;
    output: SummarizationOutput;
    batchInputs: string[];
    batchOutput: SummarizationOutput | SummarizationOutput[];
  };
  translation: {
    inputs: string;
    parameters: TranslationParameters;
    output: TranslationOutput;
    batchInputs: string[];
    batchOutput: TranslationOutput | TranslationOutput[];
  };
  'image-classification': {
    inputs: ImageInput;
    parameters: ImageClassificationParameters;
    output: ImageClassificationOutput;
    batchInputs: ImageInput[];
    batchOutput: ImageClassificationOutput[];
  };
  'object-detection': {
    inputs: ImageInput;
    parameters: ObjectDetectionParameters;
    output: ObjectDetectionOutput;
    batchInputs: ImageInput[];
    batchOutput: ObjectDetectionOutput[];
  };
  'image-segmentation': {
    inputs: ImageInput;
    parameters: ImageSegmentationParameters;
    output: ImageSegmentationOutput;
    batchInputs: ImageInput[];
    batchOutput: ImageSegmentationOutput[];
  };
  conversational: {
    inputs: ConversationalInput | string;
    parameters: ConversationalParameters;
    output: ConversationalOutput;
    batchInputs: never;
    batchOutput: never;
  };
  'automatic-speech-recognition': {
    inputs: AudioInput;
    parameters: AutomaticSpeechRecognitionParameters;
    output: AutomaticSpeechRecognitionOutput;
    batchInputs: AudioInput[];
    batchOutput: AutomaticSpeechRecognitionOutput[];
  };
  'audio-classification': {
    inputs: AudioInput;
    parameters: AudioClassificationParameters;
    output: AudioClassificationOutput;
    batchInputs: AudioInput[];
    batchOutput: AudioClassificationOutput[];
  };
}

/** A canonical HF task id this library implements. */
export type TaskId = keyof TaskTypes;

/** Alternative names accepted by `pipeline()`, as in transformers. */
export const TASK_ALIASES = {
  ner: 'token-classification',
  'sentiment-analysis': 'text-classification',
} as const satisfies Record<string, TaskId>;

export type TaskAlias = keyof typeof TASK_ALIASES;

/** A translation task with its language pair, as transformers names it (`translation_en_to_de`). */
export type TranslationTaskName = `translation_${string}_to_${string}`;

/** A task id or one of its aliases. */
export type TaskName = TaskId | TaskAlias | TranslationTaskName;

/** The canonical task id a name stands for. */
export type CanonicalTask<T extends TaskName> = Extract<
  T extends TaskAlias ? (typeof TASK_ALIASES)[T] : T extends TranslationTaskName ? 'translation' : T,
  TaskId
>;
