/** Local folders (optimum and onnx/ layouts), dtype choice and task inference. */
import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { inferTask } from '../../ts/hub/task.js';
import { InvalidInputError, ModelNotFoundError, resolveModel } from '../../ts/index.js';
import { removeTempDirs, SENTENCE_CONFIG, TOKEN_CLASSIFICATION_CONFIG, tempDir } from './helpers/repo.js';

test.after.always(removeTempDirs);

async function folder(files: Record<string, string>): Promise<string> {
  const dir = await tempDir('hf-tasks-local-');
  for (const [name, content] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await fs.writeFile(path.join(dir, name), content);
  }
  return dir;
}

test('optimum layout: model.onnx at the root', async (t) => {
  const dir = await folder({
    'config.json': TOKEN_CLASSIFICATION_CONFIG,
    'model.onnx': 'x',
    'tokenizer.json': '{}',
  });
  const model = await resolveModel(dir);
  t.is(model.source, 'local');
  t.is(model.dir, dir);
  t.is(model.onnxFile, 'model.onnx');
  t.is(model.task, 'token-classification');
  t.deepEqual(model.files, ['config.json', 'model.onnx', 'tokenizer.json']);
  t.is(model.commit, undefined);
});

test('onnx/ layout: the dtype picks the file, external data is found', async (t) => {
  const dir = await folder({
    'config.json': TOKEN_CLASSIFICATION_CONFIG,
    'onnx/model.onnx': 'fp32',
    'onnx/model.onnx_data': 'weights',
    'onnx/model_fp16.onnx': 'fp16',
    'onnx/model_quantized.onnx': 'q8',
    'onnx/model_q4.onnx': 'q4',
  });
  t.is((await resolveModel(dir)).onnxFile, 'onnx/model.onnx');
  t.deepEqual((await resolveModel(dir)).externalData, ['onnx/model.onnx_data']);
  t.is((await resolveModel(dir, { dtype: 'fp16' })).onnxFile, 'onnx/model_fp16.onnx');
  t.is((await resolveModel(dir, { dtype: 'q8' })).onnxFile, 'onnx/model_quantized.onnx');
  t.is((await resolveModel(dir, { dtype: 'int8' })).onnxFile, 'onnx/model_quantized.onnx');
  t.is((await resolveModel(dir, { dtype: 'q4' })).onnxFile, 'onnx/model_q4.onnx');
  t.deepEqual((await resolveModel(dir, { dtype: 'q4' })).externalData, []);
  const err = await t.throwsAsync(resolveModel(dir, { dtype: 'uint8' }), { instanceOf: InvalidInputError });
  t.is(err?.code, 'ERR_NO_ONNX_FILE');
  t.regex(
    err?.message ?? '',
    /onnx\/model\.onnx, onnx\/model_fp16\.onnx, onnx\/model_q4\.onnx, onnx\/model_quantized\.onnx/,
  );
});

test('without a dtype, the best file present is chosen (fp32, then quantized)', async (t) => {
  const dir = await folder({
    'config.json': TOKEN_CLASSIFICATION_CONFIG,
    'onnx/model_q4.onnx': 'q4',
    'onnx/model_int8.onnx': '8',
  });
  t.is((await resolveModel(dir)).onnxFile, 'onnx/model_int8.onnx');
  t.is((await resolveModel(dir, { dtype: 'auto' })).onnxFile, 'onnx/model_int8.onnx');
});

test('sentence-transformers folders are feature-extraction and list their ST files', async (t) => {
  const dir = await folder({
    'config.json': SENTENCE_CONFIG,
    'modules.json': '[]',
    '1_Pooling/config.json': '{}',
    'sentence_bert_config.json': '{}',
    'onnx/model.onnx': 'x',
  });
  const model = await resolveModel(dir);
  t.is(model.task, 'feature-extraction');
  t.deepEqual(model.files, [
    '1_Pooling/config.json',
    'config.json',
    'modules.json',
    'onnx/model.onnx',
    'sentence_bert_config.json',
  ]);
  t.is((await resolveModel(dir, { task: 'sentence-similarity' })).task, 'sentence-similarity');
});

test('a given task wins over inference; no config and no task is an error', async (t) => {
  const dir = await folder({ 'config.json': TOKEN_CLASSIFICATION_CONFIG, 'model.onnx': 'x' });
  t.is((await resolveModel(dir, { task: 'feature-extraction' })).task, 'feature-extraction');
  const bare = await folder({ 'model.onnx': 'x' });
  const err = await t.throwsAsync(resolveModel(bare), { instanceOf: InvalidInputError });
  t.is(err?.code, 'ERR_UNKNOWN_TASK');
  t.is((await resolveModel(bare, { task: 'image-classification' })).task, 'image-classification');
  await t.throwsAsync(resolveModel(dir, { task: 'Bad Task!' }), { instanceOf: InvalidInputError });
});

test('a path that does not exist is a ModelNotFoundError; bad config.json is a typed error', async (t) => {
  await t.throwsAsync(resolveModel('./no/such/folder'), { instanceOf: ModelNotFoundError });
  const dir = await folder({ 'config.json': '{not json', 'model.onnx': 'x' });
  const err = await t.throwsAsync(resolveModel(dir), { instanceOf: InvalidInputError });
  t.is(err?.code, 'ERR_MODEL_CONFIG');
});

test('task inference from architectures', (t) => {
  const cases: Array<[string[], string | undefined, string | undefined]> = [
    [['BertForTokenClassification'], 'bert', 'token-classification'],
    [['DistilBertForSequenceClassification'], 'distilbert', 'text-classification'],
    [['RobertaForMaskedLM'], 'roberta', 'fill-mask'],
    [['BertForQuestionAnswering'], 'bert', 'question-answering'],
    [['TapasForQuestionAnswering'], 'tapas', 'table-question-answering'],
    [['BertModel'], 'bert', 'feature-extraction'],
    [['GPT2LMHeadModel'], 'gpt2', 'text-generation'],
    [['LlamaForCausalLM'], 'llama', 'text-generation'],
    [['T5ForConditionalGeneration'], 't5', 'text2text-generation'],
    [['BartForConditionalGeneration'], 'bart', 'text2text-generation'],
    [['MarianMTModel'], 'marian', 'translation'],
    [['WhisperForConditionalGeneration'], 'whisper', 'automatic-speech-recognition'],
    [['Wav2Vec2ForCTC'], 'wav2vec2', 'automatic-speech-recognition'],
    [['ASTForAudioClassification'], 'audio-spectrogram-transformer', 'audio-classification'],
    [['ViTForImageClassification'], 'vit', 'image-classification'],
    [['DeiTForImageClassificationWithTeacher'], 'deit', 'image-classification'],
    [['DetrForObjectDetection'], 'detr', 'object-detection'],
    [['SegformerForSemanticSegmentation'], 'segformer', 'image-segmentation'],
    [['VisionEncoderDecoderModel'], 'vision-encoder-decoder', 'image-to-text'],
    [['SomethingUnheardOf'], 'x', undefined],
    [[], undefined, undefined],
  ];
  for (const [architectures, modelType, task] of cases) {
    t.is(inferTask({ architectures, model_type: modelType }, false), task, architectures.join());
  }
  t.is(inferTask({ architectures: ['BertForTokenClassification'] }, true), 'feature-extraction');
  t.is(inferTask(undefined, false), undefined);
  t.is(inferTask({ architectures: 'BertModel' }, false), undefined);
});
