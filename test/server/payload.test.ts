import test from 'ava';
import { HttpError } from '../../ts/server/errors.js';
import {
  checkJsonValue,
  collectStrings,
  countCharacters,
  decodeBody,
  MAX_JSON_DEPTH,
  normalizePayload,
} from '../../ts/server/payload.js';

const buf = (s: string) => Buffer.from(s, 'utf8');

function status(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof HttpError ? err.status : -1;
  }
  return undefined;
}

test('a JSON body with inputs gives inputs, parameters and options', (t) => {
  const p = normalizePayload(
    decodeBody(
      buf('{"inputs":"hi","parameters":{"top_k":2},"options":{"use_cache":false,"wait_for_model":true}}'),
      'application/json',
    ),
    {},
  );
  t.is(p.inputs, 'hi');
  t.deepEqual(p.parameters, { top_k: 2 });
  t.deepEqual(p.options, { useCache: false, waitForModel: true });
  t.deepEqual(p.warnings, []);
});

test('a non-JSON body is the raw text input; a JSON number becomes its string', (t) => {
  t.is(normalizePayload(decodeBody(buf('I love it'), 'text/plain'), {}).inputs, 'I love it');
  t.is(normalizePayload(decodeBody(buf('I love it'), undefined), {}).inputs, 'I love it');
  t.is(normalizePayload(decodeBody(buf('42'), 'application/json'), {}).inputs, '42');
  t.is(normalizePayload(decodeBody(buf('2.5'), undefined), {}).inputs, '2.5');
});

test('JSON without an inputs key is the input itself', (t) => {
  const p = normalizePayload(
    decodeBody(buf('{"source_sentence":"a","sentences":["b"]}'), 'application/json'),
    {},
  );
  t.deepEqual(p.inputs, { source_sentence: 'a', sentences: ['b'] });
  t.deepEqual(p.parameters, {});
});

test('headers stand in for options; body options win', (t) => {
  const h = { 'x-use-cache': 'false', 'x-wait-for-model': 'true' };
  t.deepEqual(normalizePayload({ inputs: 'x' }, h).options, { useCache: false, waitForModel: true });
  t.deepEqual(normalizePayload({ inputs: 'x', options: { use_cache: true } }, h).options, {
    useCache: true,
    waitForModel: true,
  });
  t.deepEqual(normalizePayload({ inputs: 'x' }, {}).options, { useCache: true, waitForModel: false });
});

test('unknown options become warnings; wrongly typed ones are 400', (t) => {
  t.deepEqual(normalizePayload({ inputs: 'x', options: { turbo: 1 } }, {}).warnings, [
    'unknown option `turbo` was ignored',
  ]);
  t.is(
    status(() => normalizePayload({ inputs: 'x', options: { use_cache: 'no' } }, {})),
    400,
  );
  t.is(
    status(() => normalizePayload({ inputs: 'x', options: [] }, {})),
    400,
  );
  t.is(
    status(() => normalizePayload({ inputs: 'x', parameters: 3 }, {})),
    400,
  );
  t.is(
    status(() => normalizePayload({ inputs: null }, {})),
    400,
  );
});

test('hostile bodies are 400s', (t) => {
  t.is(
    status(() => decodeBody(buf('{"inputs": '), 'application/json')),
    400,
  );
  t.is(
    status(() => decodeBody(Buffer.from([0x22, 0xff, 0xfe, 0x22]), 'text/plain')),
    400,
  );
  t.is(
    status(() => decodeBody(Buffer.alloc(0), 'application/json')),
    400,
  );
  t.is(
    status(() => decodeBody(buf('{"inputs":"\\ud800"}'), 'application/json')),
    400,
  );
  t.is(
    status(() => decodeBody(buf('{"inputs":"a","__proto__":{"x":1}}'), 'application/json')),
    400,
  );
  const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
  t.is(
    status(() => decodeBody(buf(deep), 'application/json')),
    400,
  );
});

test('nesting up to the limit is accepted', (t) => {
  let v: unknown = 'x';
  for (let i = 0; i < MAX_JSON_DEPTH; i++) v = [v];
  t.notThrows(() => checkJsonValue(v));
  t.throws(() => checkJsonValue([v]));
});

test('paired surrogates (emoji) are fine; lone ones anywhere are not', (t) => {
  t.notThrows(() => checkJsonValue({ inputs: ['😀 ok', { k: '𝐀' }] }));
  t.throws(() => checkJsonValue({ inputs: ['ok', 'x\udc00'] }));
  t.throws(() => checkJsonValue({ '\ud800': 1 }));
});

test('characters are code points of every string', (t) => {
  t.is(countCharacters('😀ab'), 3);
  t.is(countCharacters({ source_sentence: 'ab', sentences: ['c', 'de'] }), 5);
  t.is(countCharacters([{ text: 'a', text_pair: 'bc' }, 'd']), 4);
  t.is(countCharacters(42), 0);
  t.deepEqual(collectStrings([{ text: 'a', text_pair: 'b' }, 'c']), ['a', 'b', 'c']);
});
