/**
 * An encoder-decoder from a loopback hub: `pipeline()` fetches the encoder beside the decoder
 * (merged layout under onnx/, or the split decoder_model + decoder_with_past_model pair) and a
 * slow tokenizer's files where there is no tokenizer.json, then answers as the same files do
 * from a local folder.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { pipeline } from '../../ts/index.js';
import { modelDir } from '../tasks/goldens.js';
import { FakeHub } from './helpers/fake-hub.js';
import { removeTempDirs, tempDir } from './helpers/repo.js';

test.after.always(removeTempDirs);

/** Every file of a fixture folder, relative paths with `/`. */
function repoFiles(name: string): Record<string, Buffer> {
  const root = modelDir(name);
  const out: Record<string, Buffer> = {};
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      const full = path.join(dir, entry);
      if (statSync(full).isDirectory()) walk(full);
      else out[path.relative(root, full).split(path.sep).join('/')] = readFileSync(full);
    }
  };
  walk(root);
  return out;
}

for (const [name, task, files] of [
  ['marian-tiny', 'translation', ['onnx/encoder_model.onnx', 'onnx/decoder_model_merged.onnx']],
  [
    'bart-tiny',
    'summarization',
    ['encoder_model.onnx', 'decoder_model.onnx', 'decoder_with_past_model.onnx'],
  ],
  // An opus-mt-style export: the slow tokenizer's files instead of tokenizer.json.
  [
    'marian-spm-tiny',
    'translation',
    ['encoder_model.onnx', 'decoder_model_merged.onnx', 'source.spm', 'target.spm', 'vocab.json'],
  ],
] as const) {
  test.serial(`${name}: ${task} fetches ${files.join(', ')} and answers as the local folder`, async (t) => {
    const hub = await new FakeHub().start();
    t.teardown(() => hub.close());
    hub.addRevision(`acme/${name}`, 'main', repoFiles(name));
    const cacheDir = await tempDir();
    process.env.HF_ENDPOINT = hub.endpoint;
    const remote = await pipeline(task, `acme/${name}`, { cacheDir, progress: false, workers: 0 });
    const local = await pipeline(task, modelDir(name), { workers: 0 });
    t.teardown(async () => {
      await remote.dispose();
      await local.dispose();
    });
    const text = 'The Eiffel Tower in Paris is 330 metres tall.';
    t.deepEqual(await remote(text), await local(text));
    const snapshots = path.join(cacheDir, `models--acme--${name}`, 'snapshots');
    const [commit] = readdirSync(snapshots);
    for (const f of files) t.true(statSync(path.join(snapshots, commit as string, f)).isFile(), f);
  });
}

// Speech recognition reads slow tokenizers too: CTC models' vocab.json, Speech2Text's
// sentencepiece.bpe.model with vocab.json.
for (const [name, files] of [
  ['wav2vec2-ctc-tiny', ['vocab.json', 'preprocessor_config.json']],
  ['s2t-tiny', ['encoder_model.onnx', 'decoder_model_merged.onnx', 'sentencepiece.bpe.model', 'vocab.json']],
] as const) {
  test.serial(
    `${name}: automatic-speech-recognition fetches ${files.join(', ')} and answers as the local folder`,
    async (t) => {
      const hub = await new FakeHub().start();
      t.teardown(() => hub.close());
      hub.addRevision(`acme/${name}`, 'main', repoFiles(name));
      const cacheDir = await tempDir();
      process.env.HF_ENDPOINT = hub.endpoint;
      const task = 'automatic-speech-recognition';
      const remote = await pipeline(task, `acme/${name}`, { cacheDir, progress: false, workers: 0 });
      const local = await pipeline(task, modelDir(name), { workers: 0 });
      t.teardown(async () => {
        await remote.dispose();
        await local.dispose();
      });
      const audio = readFileSync(path.join(modelDir(name), '..', '..', 'audio', 'speech.wav'));
      const params = { num_beams: 1, max_new_tokens: 8 };
      const want = await local(audio, name === 's2t-tiny' ? params : undefined);
      t.deepEqual(await remote(audio, name === 's2t-tiny' ? params : undefined), want);
      const snapshots = path.join(cacheDir, `models--acme--${name}`, 'snapshots');
      const [commit] = readdirSync(snapshots);
      for (const f of files) t.true(statSync(path.join(snapshots, commit as string, f)).isFile(), f);
    },
  );
}
