import test from 'ava';
import {
  HfTasksError,
  InvalidInputError,
  InvalidParameterError,
  ModelNotFoundError,
  NativeError,
  QueueFullError,
} from '../../ts/errors.js';
import { errorBody, mapError, modelLoading, modelNotFound } from '../../ts/server/errors.js';

test('parameter-schema errors are a list of messages naming the field', (t) => {
  const m = mapError(new InvalidParameterError('top_k', '`top_k` must be an integer (got "3")'));
  t.is(m.status, 400);
  t.deepEqual(m.error, ['`top_k` must be an integer (got "3"): received `top_k` in `parameters`']);
  t.deepEqual(errorBody(m, 'hf'), { error: m.error });
});

test('bad input is 400 with its message', (t) => {
  const m = mapError(new InvalidInputError('ERR_INVALID_INPUT', 'At least one input is required.'));
  t.is(m.status, 400);
  t.is(m.error, 'At least one input is required.');
  t.is(mapError(new NativeError('ERR_TOKENIZE', 'bad text')).status, 400);
});

test("the engine's queue-full error is 429 with retry-after", (t) => {
  const m = mapError(new QueueFullError('queue full'));
  t.is(m.status, 429);
  t.is(m.headers['retry-after'], '1');
  t.is(mapError(new HfTasksError('ERR_QUEUE_FULL', 'full')).status, 429);
});

test('a missing model is 404; loading is 503 with estimated_time', (t) => {
  t.is(mapError(new ModelNotFoundError('no such model')).status, 404);
  const nf = mapError(modelNotFound('a/b'));
  t.deepEqual(errorBody(nf, 'hf'), { error: 'Model a/b does not exist' });
  const loading = mapError(modelLoading('a/b', 12.5));
  t.is(loading.status, 503);
  t.deepEqual(errorBody(loading, 'hf'), { error: 'Model a/b is currently loading', estimated_time: 12.5 });
});

test('anything else is 500 "unknown error", never the internal message', (t) => {
  for (const err of [new Error('secret path /etc/x'), new NativeError('ERR_INTERNAL', 'boom'), 'str', null]) {
    const m = mapError(err);
    t.is(m.status, 500);
    t.true(m.internal);
    t.deepEqual(errorBody(m, 'hf'), { error: 'unknown error' });
  }
});

test('dialects: TEI error_type and the OpenAI error object', (t) => {
  const m = mapError(new InvalidInputError('ERR_INVALID_INPUT', 'bad'));
  t.deepEqual(errorBody(m, 'tei'), { error: 'bad', error_type: 'Validation' });
  t.deepEqual(errorBody(mapError(new QueueFullError('full')), 'tei'), {
    error: 'full',
    error_type: 'Overloaded',
  });
  t.deepEqual(errorBody(mapError(modelNotFound('x/y')), 'openai'), {
    error: {
      message: 'Model x/y does not exist',
      type: 'invalid_request_error',
      param: null,
      code: 'model_not_found',
    },
  });
});

test('warnings are sorted and unique on error objects', (t) => {
  const body = errorBody(mapError(new InvalidInputError('E', 'bad')), 'hf', ['b', 'a', 'b']);
  t.deepEqual(body, { error: 'bad', warnings: ['a', 'b'] });
});

test('an input longer than the model accepts is 400, and 413 on TEI routes', (t) => {
  const err = new InvalidInputError(
    'ERR_INPUT_TOO_LONG',
    'Input validation error: `inputs` must have less than 8 tokens. Given: 9',
  );
  t.is(mapError(err).status, 400);
  const tei = mapError(err, 'tei');
  t.is(tei.status, 413);
  t.deepEqual(errorBody(tei, 'tei'), { error: err.message, error_type: 'Validation' });
});
