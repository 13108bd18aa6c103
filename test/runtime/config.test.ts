import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import {
  loadSentenceTransformersConfig,
  parseModelConfig,
  positionOffsetOf,
} from '../../ts/runtime/config.js';

const parse = (raw: Record<string, unknown>) => parseModelConfig(JSON.stringify(raw), raw);

test('position table: RoBERTa-like models lose pad_token_id + 1 rows, others none', (t) => {
  for (const model_type of ['roberta', 'xlm-roberta', 'camembert', 'longformer', 'data2vec-text']) {
    const cfg = parse({ model_type, max_position_embeddings: 514, pad_token_id: 1 });
    t.is(cfg.positionOffset, 2, model_type);
    t.is(cfg.maxPositions, 512, model_type);
  }
  // The configuration class's default pad_token_id (1) when the file leaves it out.
  t.is(parse({ model_type: 'roberta', max_position_embeddings: 514 }).maxPositions, 512);
  // MPNet's padding index is 1 whatever the file says.
  t.is(parse({ model_type: 'mpnet', max_position_embeddings: 514, pad_token_id: 0 }).maxPositions, 512);
  // BERT-like and BART-like (whose own offset lies outside max_position_embeddings): the whole table.
  for (const model_type of ['bert', 'distilbert', 'electra', 'bart', 'deberta']) {
    const cfg = parse({ model_type, max_position_embeddings: 512, pad_token_id: 1 });
    t.is(cfg.positionOffset, 0, model_type);
    t.is(cfg.maxPositions, 512, model_type);
  }
  t.is(positionOffsetOf('markuplm', null), 1);
  t.is(positionOffsetOf('esm', null), 0);
  t.is(positionOffsetOf(null, 1), 0);
});

test('position table: none stated, or positions that no table bounds', (t) => {
  t.is(parse({ model_type: 'bert' }).maxPositions, null);
  t.is(
    parse({ model_type: 'deberta-v2', max_position_embeddings: 512, position_biased_input: false })
      .maxPositions,
    null,
  );
  t.is(
    parse({
      model_type: 'esm',
      max_position_embeddings: 1026,
      pad_token_id: 1,
      position_embedding_type: 'rotary',
    }).maxPositions,
    null,
  );
  t.is(
    parse({
      model_type: 'esm',
      max_position_embeddings: 1026,
      pad_token_id: 1,
      position_embedding_type: 'absolute',
    }).maxPositions,
    1024,
  );
  // ModernBERT states its rotary positions only through its rope bases.
  t.is(
    parse({
      model_type: 'modernbert',
      max_position_embeddings: 8192,
      global_rope_theta: 160000,
      local_rope_theta: 10000,
    }).maxPositions,
    null,
  );
  t.is(parse({ model_type: 'llama', max_position_embeddings: 2048, rope_theta: 10000 }).maxPositions, null);
});

test("Pooling modes are listed in sentence-transformers' concatenation order", (t) => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'hf-tasks-config-'));
  try {
    const dir = path.join(tmp, 'st');
    cpSync(fileURLToPath(new URL('../fixtures/models/st-encoder', import.meta.url)), dir, {
      recursive: true,
    });
    const file = path.join(dir, '1_Pooling', 'config.json');
    const cfg = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    for (const key of Object.keys(cfg)) if (key.startsWith('pooling_mode_')) cfg[key] = true;
    writeFileSync(file, JSON.stringify(cfg));
    t.deepEqual(loadSentenceTransformersConfig(dir)?.pooling?.modes, [
      'cls',
      'max',
      'mean',
      'mean_sqrt_len',
      'weightedmean',
      'lasttoken',
    ]);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('decoder-only sequence classifiers without a pad id must run unpadded', (t) => {
  const cls = (extra: Record<string, unknown>) =>
    parse({ model_type: 'gpt2', architectures: ['GPT2ForSequenceClassification'], ...extra }).unpaddedRows;
  t.true(cls({}));
  t.true(cls({ pad_token_id: null }));
  t.false(cls({ pad_token_id: 50256 }));
  t.false(parse({ model_type: 'gpt2', architectures: ['GPT2LMHeadModel'] }).unpaddedRows);
  t.false(parse({ model_type: 'bert', architectures: ['BertForSequenceClassification'] }).unpaddedRows);
  t.true(parse({ model_type: 'qwen3', architectures: ['Qwen3ForSequenceClassification'] }).unpaddedRows);
});

test("GPT-2's position table is read from n_positions", (t) => {
  t.is(parse({ model_type: 'gpt2', n_positions: 1024 }).maxPositions, 1024);
  t.is(parse({ model_type: 'gpt2', n_positions: 1024, max_position_embeddings: 512 }).maxPositions, 512);
});
