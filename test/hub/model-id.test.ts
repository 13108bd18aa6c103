/** Model id and revision validation (the HTTP server passes request values straight in). */
import test from 'ava';
import { InvalidInputError, resolveModel, validateModelId, validateRevision } from '../../ts/index.js';
import { FakeHub } from './helpers/fake-hub.js';
import { removeTempDirs, tempDir } from './helpers/repo.js';

test.after.always(removeTempDirs);

const GOOD_IDS = [
  'sentence-transformers/all-MiniLM-L6-v2',
  'nationaldesignstudio/rampart',
  'gpt2',
  'google-bert/bert-base-uncased',
  'a/b',
  'Org_1/model.v2',
];

const BAD_IDS = [
  '',
  '../etc/passwd',
  'owner/../name',
  '/absolute/path',
  'owner\\name',
  'owner%2Fname',
  'owner/name%2F..',
  'owner/name/extra',
  'owner//name',
  'owner/name ',
  ' owner/name',
  'owner/na me',
  'owner/na\u0000me',
  'owner/na\nme',
  'owner/naïve',
  'owner--x/name',
  'owner/name.git',
  '.hidden/name',
  'owner/-name',
  'owner/name-',
  'owner/name?x=1',
  'owner/name#frag',
  'https://evil.example/owner/name',
  `owner/${'x'.repeat(100)}`,
];

test('valid hub ids pass', (t) => {
  for (const id of GOOD_IDS) t.is(validateModelId(id), id);
});

test('ids that could escape a folder or change a URL are rejected with a typed error', (t) => {
  for (const id of BAD_IDS) {
    const err = t.throws(() => validateModelId(id), { instanceOf: InvalidInputError }, JSON.stringify(id));
    t.is(err?.code, 'ERR_INVALID_MODEL_ID');
  }
  t.throws(() => validateModelId(42 as unknown as string), { instanceOf: InvalidInputError });
});

test('revisions: branches, tags, refs/pr/N and commits pass; traversal and odd characters do not', (t) => {
  for (const rev of ['main', 'v1.0', 'refs/pr/12', 'a'.repeat(40), 'release-2024_01']) {
    t.is(validateRevision(rev), rev);
  }
  for (const rev of [
    '',
    '..',
    '../main',
    'refs/../../x',
    '/main',
    'main/',
    'a//b',
    'ma in',
    'x%2F..',
    'a\\b',
    'x.lock',
  ]) {
    const err = t.throws(() => validateRevision(rev), { instanceOf: InvalidInputError }, JSON.stringify(rev));
    t.is(err?.code, 'ERR_INVALID_MODEL_ID');
  }
});

test('resolveModel with allowLocal false rejects paths before any file or network access', async (t) => {
  const hub = await new FakeHub().start();
  t.teardown(() => hub.close());
  const cacheDir = await tempDir();
  const opts = { allowLocal: false, endpoint: hub.endpoint, cacheDir, progress: false as const };
  for (const id of ['/etc', '../x/y', './model', '~/model', 'a/../../b', 'owner%2F..%2Fname']) {
    await t.throwsAsync(resolveModel(id, opts), { instanceOf: InvalidInputError }, id);
  }
  await t.throwsAsync(resolveModel('acme/model', { ...opts, revision: '../../x' }), {
    instanceOf: InvalidInputError,
  });
  await t.throwsAsync(resolveModel('acme/model', { ...opts, dtype: 'fp64' as 'fp32' }), {
    instanceOf: InvalidInputError,
  });
  t.is(hub.requests.length, 0);
});
