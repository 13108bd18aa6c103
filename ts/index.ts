/**
 * hf-tasks: Hugging Face Inference API task contracts on local ONNX models.
 */
export { HfTasksError, InvalidInputError, NativeError } from './errors.js';
export { applyScores, qaAnswerCharSpans, qaDecodeSpan, qaPMask, topK } from './native.js';
