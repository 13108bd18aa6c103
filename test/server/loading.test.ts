/**
 * Loading behaviour: 503 with `estimated_time` while a model loads, `wait_for_model` (option or
 * header) to block instead, 429 when a model's queue is full, 500 when a load fails. The real
 * pipeline loader runs behind a gate the test opens, so "still loading" is deterministic.
 */
import test from 'ava';
import { ModelError } from '../../ts/errors.js';
import { defaultLoader, type PipelineLoader, resolveConfig } from '../../ts/server/index.js';
import { FIXTURE_MODELS, get, metricValue, post, startTestServer } from './helpers.js';

const NER = FIXTURE_MODELS.filter((m) => m.id === 'test/bert-ner');
const TEXT = 'My name is Sarah and I live in London';

function gatedLoader(): { loader: PipelineLoader; open: () => void } {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const real = defaultLoader(resolveConfig({ logLevel: 'silent' }));
  return {
    loader: async (task, source, id) => {
      await gate;
      return real(task, source, id);
    },
    open,
  };
}

async function waitFor(check: () => Promise<boolean>): Promise<void> {
  for (;;) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('503 with estimated_time while loading; wait_for_model blocks until ready', async (t) => {
  const { loader, open } = gatedLoader();
  const srv = await startTestServer({ models: NER, preload: false }, { loader });
  try {
    const url = `${srv.url}/models/test/bert-ner`;
    const cold = await post(url, { inputs: TEXT });
    t.is(cold.status, 503);
    const body = cold.body as { error: string; estimated_time: number };
    t.is(body.error, 'Model test/bert-ner is currently loading');
    t.is(typeof body.estimated_time, 'number');
    t.true(body.estimated_time > 0);
    t.truthy(cold.headers['retry-after']);
    t.regex(String(cold.headers['x-compute-time']), /^\d+\.\d{3}$/);

    const health = await get(`${srv.url}/health`);
    t.is(health.status, 503);
    t.is((health.body as { status: string }).status, 'loading');

    const waiting = post(url, { inputs: TEXT, options: { wait_for_model: true } });
    const waitingHeader = post(url, { inputs: TEXT }, { 'x-wait-for-model': 'true' });
    await waitFor(
      async () =>
        metricValue((await get(`${srv.url}/metrics`)).text, 'hf_tasks_queue_depth', {
          model: 'test/bert-ner',
        }) === 2,
    );
    t.is((await post(url, { inputs: TEXT })).status, 503, 'still loading while the gate is shut');
    open();
    const [a, b] = await Promise.all([waiting, waitingHeader]);
    t.is(a.status, 200);
    t.is(b.status, 200);
    t.true(Array.isArray(a.body));
    t.deepEqual(a.body, b.body);
    t.is((await post(url, { inputs: TEXT, options: { use_cache: false } })).status, 200);
    t.is((await get(`${srv.url}/health`)).status, 200);
  } finally {
    await srv.close();
  }
});

test('preloading at start-up: requests get 503 until the load finishes', async (t) => {
  const { loader, open } = gatedLoader();
  const srv = await startTestServer({ models: NER, preload: false }, { loader });
  try {
    const preload = srv.server.preload();
    const res = await post(`${srv.url}/models/test/bert-ner`, { inputs: TEXT });
    t.is(res.status, 503);
    open();
    await preload;
    t.is((await post(`${srv.url}/models/test/bert-ner`, { inputs: TEXT })).status, 200);
    const models = await get(`${srv.url}/models`);
    t.deepEqual((models.body as Array<{ state: unknown }>)[0]?.state, { 'token-classification': 'ready' });
  } finally {
    await srv.close();
  }
});

test('429 when the model queue is full, and the server keeps serving', async (t) => {
  const { loader, open } = gatedLoader();
  const srv = await startTestServer({ models: NER, preload: false, maxQueue: 1 }, { loader });
  try {
    const url = `${srv.url}/models/test/bert-ner`;
    const first = post(url, { inputs: TEXT, options: { wait_for_model: true } });
    await waitFor(
      async () =>
        metricValue((await get(`${srv.url}/metrics`)).text, 'hf_tasks_queue_depth', {
          model: 'test/bert-ner',
        }) === 1,
    );
    const second = await post(url, { inputs: TEXT, options: { wait_for_model: true } });
    t.is(second.status, 429);
    t.regex((second.body as { error: string }).error, /overloaded/);
    t.is(second.headers['retry-after'], '1');
    open();
    t.is((await first).status, 200);
    t.is((await post(url, { inputs: TEXT })).status, 200);
    const metrics = await get(`${srv.url}/metrics`);
    t.true(metricValue(metrics.text, 'hf_tasks_http_requests_total', { status: '429' }) >= 1);
  } finally {
    await srv.close();
  }
});

test('a model that fails to load answers 500 and /health says failed', async (t) => {
  const loader: PipelineLoader = async () => {
    throw new ModelError('ERR_MODEL_LOAD', 'corrupt ONNX file /secret/path/model.onnx');
  };
  const srv = await startTestServer({ models: NER, preload: false }, { loader });
  try {
    const res = await post(`${srv.url}/models/test/bert-ner`, {
      inputs: TEXT,
      options: { wait_for_model: true },
    });
    t.is(res.status, 500);
    t.deepEqual(res.body, { error: 'Model test/bert-ner failed to load' });
    const health = await get(`${srv.url}/health`);
    t.is(health.status, 503);
    t.is((health.body as { status: string }).status, 'failed');
    const again = await post(`${srv.url}/models/test/bert-ner`, { inputs: TEXT });
    t.is(again.status, 500);
    t.is((await get(`${srv.url}/models`)).status, 200);
  } finally {
    await srv.close();
  }
});
