/**
 * Runs resolveModel in a separate process for the multi-process tests: the model id is the
 * first argument, extra options are JSON in the second; settings come from the environment
 * (HF_ENDPOINT, HF_HUB_CACHE, HF_TOKEN, HF_HUB_OFFLINE). Prints one JSON line.
 */
import { resolveModel } from '../../../ts/index.js';

const [id = '', extra = '{}'] = process.argv.slice(2);
try {
  const model = await resolveModel(id, { progress: false, mirror: false, ...JSON.parse(extra) });
  process.stdout.write(`${JSON.stringify({ ok: true, model })}\n`);
} catch (err) {
  const e = err as { code?: string; message?: string; name?: string };
  process.stdout.write(`${JSON.stringify({ ok: false, name: e.name, code: e.code, message: e.message })}\n`);
}
