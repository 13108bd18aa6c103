/**
 * Sentence similarity (`sentence-similarity`): task contract 6.3. The source sentence and the
 * sentences are embedded the sentence-transformers way in one batch; the result is the cosine
 * similarity of the source with each sentence, in order.
 */
import { cosineSimilarity } from '../native.js';
import type { SentenceSimilarityInputItem, SentenceSimilarityOutput } from '../types/sentence-similarity.js';
import { batchOf, describeValue, invalidInput, parametersObject, textInput } from './params.js';
import { sentenceEncoder } from './sentence-embedding.js';
import type { TaskContext, TaskDefinition, TaskRun } from './task.js';

/** Validates one `{source_sentence, sentences}` input. */
export function similarityInput(v: unknown, name: string): SentenceSimilarityInputItem {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw invalidInput(
      `\`${name}\` must be an object {source_sentence, sentences} (got ${describeValue(v)})`,
    );
  }
  const obj = v as Record<string, unknown>;
  if (obj.source_sentence === undefined || obj.sentences === undefined) {
    throw invalidInput(
      `\`${name}\` needs the keys \`source_sentence\` (a string) and \`sentences\` (a list of strings)`,
    );
  }
  const source = textInput(obj.source_sentence, `${name}.source_sentence`);
  if (!Array.isArray(obj.sentences)) {
    throw invalidInput(
      `\`${name}.sentences\` must be a list of strings (got ${describeValue(obj.sentences)})`,
    );
  }
  const sentences = obj.sentences.map((s, i) => textInput(s, `${name}.sentences[${i}]`));
  return { source_sentence: source, sentences };
}

function create(ctx: TaskContext): TaskRun {
  const encoder = sentenceEncoder(ctx.model);

  const similarities = async (item: SentenceSimilarityInputItem): Promise<SentenceSimilarityOutput> => {
    const n = item.sentences.length;
    if (n === 0) return [];
    const values = await encoder.embed([item.source_sentence, ...item.sentences]);
    const dim = values.length / (n + 1);
    return Array.from(cosineSimilarity(values.subarray(0, dim), values.subarray(dim), n, dim));
  };

  return async (inputs, parameters) => {
    parametersObject(parameters);
    const { items, single } = batchOf(inputs, similarityInput);
    const results: SentenceSimilarityOutput[] = [];
    for (const item of items) results.push(await similarities(item));
    return single ? results[0] : results;
  };
}

const sentenceSimilarity: TaskDefinition = { create };
export default sentenceSimilarity;
