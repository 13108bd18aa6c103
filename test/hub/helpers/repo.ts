/** Repository contents and temp folders for the hub tests. */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const created: string[] = [];

/** A fresh temp folder; `removeTempDirs` (run it in `test.after.always`) deletes them all. */
export async function tempDir(prefix = 'hf-tasks-hub-'): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  created.push(dir);
  return dir;
}

export async function removeTempDirs(): Promise<void> {
  await Promise.all(created.splice(0).map((d) => fs.rm(d, { recursive: true, force: true })));
}

export const TOKEN_CLASSIFICATION_CONFIG = JSON.stringify({
  architectures: ['BertForTokenClassification'],
  model_type: 'bert',
  id2label: { 0: 'O', 1: 'B-PER', 2: 'I-PER' },
});

export const SENTENCE_CONFIG = JSON.stringify({ architectures: ['BertModel'], model_type: 'bert' });

/**
 * The files of a small token-classification repository in the onnx/ folder layout. The ONNX
 * "files" are random bytes: the hub code never parses them, and random content makes every
 * checksum distinct.
 */
export function tokenClassificationRepo(onnxSize = 300_000): Record<string, Buffer | string> {
  return {
    'config.json': TOKEN_CLASSIFICATION_CONFIG,
    'tokenizer.json': JSON.stringify({ version: '1.0', model: { type: 'WordPiece' } }),
    'tokenizer_config.json': JSON.stringify({ model_max_length: 512 }),
    'onnx/model.onnx': randomBytes(onnxSize),
    'onnx/model_quantized.onnx': randomBytes(onnxSize / 4),
    'README.md': '# a model card that no task needs\n',
  };
}

export async function readSnapshotFile(dir: string, file: string): Promise<Buffer> {
  return fs.readFile(path.join(dir, ...file.split('/')));
}
