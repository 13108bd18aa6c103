/**
 * A client that drops its connection cancels its generation: the pipe call is aborted (it
 * rejects with ERR_ABORTED long before its token budget), the active-sequence gauge returns to
 * 0, the cancellation is counted, and the model answers the next request. The served pipe is the
 * real text-generation pipeline on the inline engine, slowed to about 20 ms per token so that
 * the generation is still running when the client goes away.
 */
import http from 'node:http';
import test from 'ava';
import { pipeline } from '../../ts/pipeline.js';
import type { ServedPipe } from '../../ts/server/index.js';
import { fixtureModel, get, metricValue, post, startTestServer, type TestServer } from './helpers.js';

type Event = { type: string };
type Call = { signal?: AbortSignal; onEvent?: (e: Event) => void };
type Pipe = ((inputs: unknown, parameters: unknown, call?: Call) => Promise<unknown>) & {
  task: string;
  model: string;
  dispose(): Promise<void>;
};

const MAX_NEW = 200;
const PER_TOKEN_MS = 20;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

const calls: Array<{ tokens: number; outcome: 'pending' | 'ok' | string }> = [];
let srv: TestServer;

/** The real pipeline on the inline engine, slowed per token and recording each call. */
async function slowLoader(task: string, source: string): Promise<ServedPipe> {
  const real = (await (pipeline as (t: string, m: string, o: object) => Promise<unknown>)(task, source, {
    inline: true,
    progress: false,
  })) as Pipe;
  const slowed = async (inputs: unknown, parameters: unknown, call: Call = {}) => {
    const record = { tokens: 0, outcome: 'pending' };
    calls.push(record);
    try {
      const out = await real(inputs, parameters, {
        ...call,
        onEvent: (e) => {
          if (e.type === 'token') {
            record.tokens++;
            // The inline loop emits from its step: blocking here slows every step.
            Atomics.wait(sleeper, 0, 0, PER_TOKEN_MS);
          }
          call.onEvent?.(e);
        },
      });
      record.outcome = 'ok';
      return out;
    } catch (err) {
      record.outcome = String((err as { code?: string }).code);
      throw err;
    }
  };
  return Object.assign(slowed, {
    task: real.task,
    model: real.model,
    dispose: () => real.dispose(),
  }) as unknown as ServedPipe;
}

const QWEN = [{ id: 'test/qwen2-tiny', path: fixtureModel('qwen2-tiny'), tasks: ['text-generation'] }];

test.before(async () => {
  srv = await startTestServer({ models: QWEN }, { loader: slowLoader });
});

test.after.always(async () => {
  await srv?.close();
});

/** Posts a streamed request and destroys the socket once the first event has arrived. */
function dropAfterFirstEvent(path: string, body: unknown): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${srv.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
    });
    req.on('response', (res) => {
      res.once('data', (chunk: Buffer) => {
        req.destroy();
        resolve(chunk.toString('utf8'));
      });
    });
    req.on('error', (err) => {
      if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(err);
    });
    req.end(JSON.stringify(body));
  });
}

async function waitFor(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return false;
}

const model = { model: 'test/qwen2-tiny' };
const metrics = async () => (await get(`${srv.url}/metrics`)).text;

async function checkCancelled(t: import('ava').ExecutionContext, path: string, body: unknown) {
  const before = calls.length;
  const cancelledBefore = metricValue(await metrics(), 'hf_tasks_generation_calls_total', {
    ...model,
    outcome: 'cancelled',
  });
  const first = await dropAfterFirstEvent(path, body);
  t.true(first.startsWith('data: '));
  const settled = await waitFor(async () => calls[before]?.outcome !== 'pending', 5000);
  t.true(settled, 'the call settles once the client is gone');
  const call = calls[before];
  t.is(call?.outcome, 'ERR_ABORTED');
  // Far fewer tokens than asked for: the sequence stopped.
  t.true((call?.tokens ?? MAX_NEW) < MAX_NEW / 2, `${call?.tokens} tokens`);
  const text = await metrics();
  t.is(metricValue(text, 'hf_tasks_generation_active_sequences', model), 0);
  t.is(
    metricValue(text, 'hf_tasks_generation_calls_total', { ...model, outcome: 'cancelled' }),
    cancelledBefore + 1,
  );
  // The model still answers.
  const next = await post(`${srv.url}/models/test/qwen2-tiny`, {
    inputs: 'again',
    parameters: { max_new_tokens: 2 },
    options: { use_cache: false },
  });
  t.is(next.status, 200);
}

const long = { max_new_tokens: MAX_NEW, min_new_tokens: MAX_NEW };

test.serial('dropping a TGI stream cancels the sequence', async (t) => {
  await checkCancelled(t, '/generate_stream', { inputs: 'Tell me everything', parameters: long });
});

test.serial('dropping an OpenAI chat stream cancels the sequence', async (t) => {
  await checkCancelled(t, '/v1/chat/completions', {
    model: 'test/qwen2-tiny',
    messages: [{ role: 'user', content: 'Tell me everything' }],
    max_tokens: MAX_NEW,
    stream: true,
  });
});

test.serial('dropping a non-streamed request cancels the sequence too', async (t) => {
  const before = calls.length;
  const req = http.request(`${srv.url}/models/test/qwen2-tiny`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
  });
  req.on('error', () => undefined);
  req.end(JSON.stringify({ inputs: 'Tell me everything', parameters: long, options: { use_cache: false } }));
  // Once the call has made a few tokens, the client leaves.
  t.true(await waitFor(async () => (calls[before]?.tokens ?? 0) >= 3, 5000));
  req.destroy();
  t.true(await waitFor(async () => calls[before]?.outcome !== 'pending', 5000));
  t.is(calls[before]?.outcome, 'ERR_ABORTED');
  t.true((calls[before]?.tokens ?? MAX_NEW) < MAX_NEW / 2);
  t.is(metricValue(await metrics(), 'hf_tasks_generation_active_sequences', model), 0);
});

test.serial('the request deadline ends a stream with an error event and cancels the sequence', async (t) => {
  const short = await startTestServer({ models: QWEN, requestTimeout: 0.4 }, { loader: slowLoader });
  try {
    const before = calls.length;
    const res = await post(`${short.url}/generate_stream`, {
      inputs: 'Tell me everything',
      parameters: long,
    });
    t.is(res.status, 200);
    const events = res.text
      .split('\n\n')
      .filter((b) => b.trim() !== '')
      .map((b) => JSON.parse(b.replace(/^data: /, '')) as Record<string, unknown>);
    t.true(events.length > 1);
    const last = events.at(-1) as { error: string; error_type: string };
    t.regex(last.error, /did not finish within 0.4 s/);
    t.is(last.error_type, 'generation');
    t.true(await waitFor(async () => calls[before]?.outcome !== 'pending', 5000));
    t.is(calls[before]?.outcome, 'ERR_ABORTED');
    t.true((calls[before]?.tokens ?? MAX_NEW) < MAX_NEW / 2);
  } finally {
    await short.close();
  }
});
