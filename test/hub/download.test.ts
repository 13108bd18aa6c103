/**
 * resolveModel against a real loopback HTTP hub: first download, cache hits without requests,
 * revisions, the CDN redirect and the token, 401 and 404 answers, resume after a cut, offline.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import {
  DownloadError,
  GatedModelError,
  InvalidInputError,
  ModelNotFoundError,
  OfflineError,
  type ProgressEvent,
  resolveModel,
} from '../../ts/index.js';
import { FakeHub, gitBlobSha1, sha256 } from './helpers/fake-hub.js';
import { readSnapshotFile, removeTempDirs, tempDir, tokenClassificationRepo } from './helpers/repo.js';

test.after.always(removeTempDirs);

const ID = 'acme/tiny-ner';

async function setup(files = tokenClassificationRepo(), options: { token?: string } = {}) {
  const hub = await new FakeHub().start();
  const commit = hub.addRevision(ID, 'main', files, options);
  const cacheDir = await tempDir();
  const opts = { endpoint: hub.endpoint, cacheDir, progress: false as const, mirror: false as const };
  return { hub, commit, cacheDir, files, opts, repoDir: path.join(cacheDir, 'models--acme--tiny-ner') };
}

test('first download fetches config, tokenizer files and the fp32 ONNX into the cache', async (t) => {
  const { hub, commit, opts, files, repoDir } = await setup();
  t.teardown(() => hub.close());
  const model = await resolveModel(ID, opts);
  t.is(model.source, 'hub');
  t.is(model.commit, commit);
  t.is(model.revision, 'main');
  t.is(model.task, 'token-classification');
  t.is(model.onnxFile, 'onnx/model.onnx');
  t.deepEqual(model.externalData, []);
  t.deepEqual(model.files, ['config.json', 'onnx/model.onnx', 'tokenizer.json', 'tokenizer_config.json']);
  t.is(model.dir, path.join(repoDir, 'snapshots', commit));
  for (const f of model.files) t.deepEqual(await readSnapshotFile(model.dir, f), Buffer.from(files[f]!));
  // Neither the quantized file nor the README was fetched.
  t.is(hub.requestsFor('model_quantized.onnx').length, 0);
  t.is(hub.requestsFor('README.md').length, 0);
  t.is(hub.cdnRequests.filter((r) => r.method === 'GET').length, 1);
});

test('a second resolve is answered from the cache without any request', async (t) => {
  const { hub, opts } = await setup();
  t.teardown(() => hub.close());
  const first = await resolveModel(ID, opts);
  const hubCount = hub.requests.length;
  const cdnCount = hub.cdnRequests.length;
  const second = await resolveModel(ID, opts);
  t.is(second.source, 'cache');
  t.is(hub.requests.length, hubCount);
  t.is(hub.cdnRequests.length, cdnCount);
  t.deepEqual({ ...second, source: 'hub' }, first);
  // Offline gives the same answer.
  const offline = await resolveModel(ID, { ...opts, offline: true });
  t.is(offline.dir, first.dir);
  t.is(hub.requests.length, hubCount);
});

test('the dtype picks the ONNX file; another dtype of a cached model is fetched', async (t) => {
  const { hub, opts, files } = await setup();
  t.teardown(() => hub.close());
  await resolveModel(ID, opts);
  const q8 = await resolveModel(ID, { ...opts, dtype: 'q8' });
  t.is(q8.onnxFile, 'onnx/model_quantized.onnx');
  t.is(q8.source, 'hub');
  t.deepEqual(await readSnapshotFile(q8.dir, q8.onnxFile), files['onnx/model_quantized.onnx']);
  const again = await resolveModel(ID, { ...opts, dtype: 'q8' });
  t.is(again.source, 'cache');
});

test('a dtype the repository lacks is an error that lists the ONNX files present', async (t) => {
  const { hub, opts } = await setup();
  t.teardown(() => hub.close());
  const err = await t.throwsAsync(resolveModel(ID, { ...opts, dtype: 'fp16' }), {
    instanceOf: InvalidInputError,
  });
  t.is(err?.code, 'ERR_NO_ONNX_FILE');
  t.regex(err?.message ?? '', /dtype fp16/);
  t.regex(err?.message ?? '', /onnx\/model\.onnx, onnx\/model_quantized\.onnx/);
  // The answer is now known from the cache, offline too.
  const offline = await t.throwsAsync(resolveModel(ID, { ...opts, dtype: 'fp16', offline: true }));
  t.regex(offline?.message ?? '', /onnx\/model_fp16\.onnx/);
});

test('a new revision gets its own snapshot and ref; unchanged blobs are not downloaded again', async (t) => {
  const { hub, opts, files, repoDir, commit } = await setup();
  t.teardown(() => hub.close());
  const v1 = await resolveModel(ID, opts);
  const changed = { ...files, 'config.json': String(files['config.json']).replace('B-PER', 'B-PERSON') };
  const v2commit = hub.addRevision(ID, 'v2', changed);
  const cdnGets = hub.cdnRequests.length;
  const v2 = await resolveModel(ID, { ...opts, revision: 'v2' });
  t.is(v2.commit, v2commit);
  t.not(v2.dir, v1.dir);
  t.is((await fs.readFile(path.join(repoDir, 'refs', 'v2'), 'utf8')).trim(), v2commit);
  t.is((await fs.readFile(path.join(repoDir, 'refs', 'main'), 'utf8')).trim(), commit);
  t.regex((await readSnapshotFile(v2.dir, 'config.json')).toString(), /B-PERSON/);
  t.regex((await readSnapshotFile(v1.dir, 'config.json')).toString(), /"B-PER"/);
  t.is(hub.cdnRequests.length, cdnGets, 'the ONNX blob is shared, not fetched again');
  // A commit hash works as a revision too.
  const byCommit = await resolveModel(ID, { ...opts, revision: v2commit });
  t.is(byCommit.dir, v2.dir);
});

test('the CDN redirect is followed without the token; the hub gets it', async (t) => {
  const { hub, opts } = await setup(tokenClassificationRepo(), { token: 'hf_secret' });
  t.teardown(() => hub.close());
  const model = await resolveModel(ID, { ...opts, token: 'hf_secret' });
  t.is(model.onnxFile, 'onnx/model.onnx');
  t.true(hub.requests.length > 0);
  t.true(hub.requests.every((r) => r.authorization === 'Bearer hf_secret'));
  t.true(hub.cdnRequests.length > 0);
  t.true(hub.cdnRequests.every((r) => r.authorization === undefined));
});

test('a gated repository without the right token is a GatedModelError', async (t) => {
  const { hub, opts } = await setup(tokenClassificationRepo(), { token: 'hf_right' });
  t.teardown(() => hub.close());
  const none = await t.throwsAsync(resolveModel(ID, { ...opts, token: '' }), { instanceOf: GatedModelError });
  t.is(none?.code, 'ERR_UNAUTHORIZED');
  t.regex(none?.message ?? '', /acme\/tiny-ner/);
  t.regex(none?.message ?? '', /HF_TOKEN/);
  await t.throwsAsync(resolveModel(ID, { ...opts, token: 'hf_wrong' }), { instanceOf: GatedModelError });
  const ok = await resolveModel(ID, { ...opts, token: 'hf_right' });
  t.is(ok.source, 'hub');
});

test('an unknown repository or revision is a ModelNotFoundError', async (t) => {
  const { hub, opts } = await setup();
  t.teardown(() => hub.close());
  const repo = await t.throwsAsync(resolveModel('acme/missing', opts), { instanceOf: ModelNotFoundError });
  t.is(repo?.code, 'ERR_MODEL_NOT_FOUND');
  t.regex(repo?.message ?? '', /acme\/missing/);
  t.regex(repo?.message ?? '', /package mirror: no pinned package/);
  const rev = await t.throwsAsync(resolveModel(ID, { ...opts, revision: 'nope' }), {
    instanceOf: ModelNotFoundError,
  });
  t.regex(rev?.message ?? '', /revision nope/);
});

test('optional files that answer 404 are absent and recorded in .no_exist', async (t) => {
  const { hub, opts, repoDir, commit } = await setup();
  t.teardown(() => hub.close());
  await resolveModel(ID, opts);
  t.is(hub.requestsFor('special_tokens_map.json').length, 1);
  const marker = path.join(repoDir, '.no_exist', commit, 'special_tokens_map.json');
  t.is((await fs.stat(marker)).size, 0);
  t.true((await fs.stat(path.join(repoDir, '.no_exist', commit, 'onnx', 'model.onnx_data'))).isFile());
});

test('a body cut mid-way is resumed with a Range request', async (t) => {
  const { hub, opts, files } = await setup();
  t.teardown(() => hub.close());
  const onnx = files['onnx/model.onnx'] as Buffer;
  hub.cutNext.add(sha256(onnx));
  const model = await resolveModel(ID, opts);
  t.deepEqual(await readSnapshotFile(model.dir, 'onnx/model.onnx'), onnx);
  const gets = hub.cdnRequests.filter((r) => r.method === 'GET');
  t.is(gets.length, 2);
  t.is(gets[0]?.range, undefined);
  t.regex(gets[1]?.range ?? '', /^bytes=\d+-$/);
  t.true(Number(/\d+/.exec(gets[1]?.range ?? '')?.[0]) > 0);
});

test('an .incomplete file left by an earlier run is resumed, not restarted', async (t) => {
  const { hub, opts, files, repoDir } = await setup();
  t.teardown(() => hub.close());
  const onnx = files['onnx/model.onnx'] as Buffer;
  const oid = sha256(onnx);
  await fs.mkdir(path.join(repoDir, 'blobs'), { recursive: true });
  await fs.writeFile(path.join(repoDir, 'blobs', `${oid}.incomplete`), onnx.subarray(0, 1000));
  const model = await resolveModel(ID, opts);
  t.deepEqual(await readSnapshotFile(model.dir, 'onnx/model.onnx'), onnx);
  const gets = hub.cdnRequests.filter((r) => r.method === 'GET');
  t.deepEqual(
    gets.map((r) => r.range),
    ['bytes=1000-'],
  );
  await t.throwsAsync(fs.stat(path.join(repoDir, 'blobs', `${oid}.incomplete`)));
});

test('a corrupt .incomplete file fails the checksum and is discarded', async (t) => {
  const { hub, opts, files, repoDir } = await setup();
  t.teardown(() => hub.close());
  const onnx = files['onnx/model.onnx'] as Buffer;
  const oid = sha256(onnx);
  await fs.mkdir(path.join(repoDir, 'blobs'), { recursive: true });
  await fs.writeFile(path.join(repoDir, 'blobs', `${oid}.incomplete`), Buffer.alloc(1000, 7));
  const err = await t.throwsAsync(resolveModel(ID, opts), { instanceOf: DownloadError });
  t.regex(err?.message ?? '', /checksum mismatch/);
  await t.throwsAsync(fs.stat(path.join(repoDir, 'blobs', `${oid}.incomplete`)));
  // The next try starts clean and succeeds.
  const model = await resolveModel(ID, opts);
  t.deepEqual(await readSnapshotFile(model.dir, 'onnx/model.onnx'), onnx);
});

test('two concurrent resolves of one model download each blob once', async (t) => {
  const { hub, opts, files } = await setup();
  t.teardown(() => hub.close());
  hub.cdnChunkDelayMs = 5;
  const [a, b] = await Promise.all([resolveModel(ID, opts), resolveModel(ID, opts)]);
  t.is(a.dir, b.dir);
  t.deepEqual(await readSnapshotFile(a.dir, 'onnx/model.onnx'), files['onnx/model.onnx']);
  t.is(hub.cdnRequests.filter((r) => r.method === 'GET').length, 1);
  const configGets = hub.requestsFor('config.json').filter((r) => r.method === 'GET');
  t.is(configGets.length, 1);
});

test('offline with an empty cache is an OfflineError naming the model and the cache path', async (t) => {
  const { hub, opts, cacheDir } = await setup();
  t.teardown(() => hub.close());
  const err = await t.throwsAsync(resolveModel(ID, { ...opts, offline: true }), { instanceOf: OfflineError });
  t.is(err?.code, 'ERR_OFFLINE');
  t.true(err?.message.includes(ID));
  t.true(err?.message.includes(cacheDir));
  t.is(hub.requests.length, 0);
});

test('offline with a partial cache names the missing file', async (t) => {
  const { hub, opts, commit, repoDir } = await setup();
  t.teardown(() => hub.close());
  await resolveModel(ID, opts);
  await fs.rm(path.join(repoDir, 'snapshots', commit, 'onnx', 'model.onnx'));
  const before = hub.requests.length;
  const err = await t.throwsAsync(resolveModel(ID, { ...opts, offline: true }), { instanceOf: OfflineError });
  t.regex(err?.message ?? '', /onnx\/model\.onnx/);
  t.true(err?.message.includes(path.join(repoDir, 'snapshots', commit)));
  t.is(hub.requests.length, before);
});

test('blobs are named by sha256 for LFS files and by git blob sha1 for the others', async (t) => {
  const { hub, opts, files, repoDir, commit } = await setup();
  t.teardown(() => hub.close());
  await resolveModel(ID, opts);
  const blobs = (await fs.readdir(path.join(repoDir, 'blobs'))).sort();
  const expected = [
    sha256(files['onnx/model.onnx'] as Buffer),
    gitBlobSha1(Buffer.from(files['config.json'] as string)),
    gitBlobSha1(Buffer.from(files['tokenizer.json'] as string)),
    gitBlobSha1(Buffer.from(files['tokenizer_config.json'] as string)),
  ].sort();
  t.deepEqual(blobs, expected);
  const link = await fs.readlink(path.join(repoDir, 'snapshots', commit, 'onnx', 'model.onnx'));
  t.is(link, `../../../blobs/${sha256(files['onnx/model.onnx'] as Buffer)}`);
  const configLink = await fs.readlink(path.join(repoDir, 'snapshots', commit, 'config.json'));
  t.is(configLink, `../../blobs/${gitBlobSha1(Buffer.from(files['config.json'] as string))}`);
  t.is(await fs.readFile(path.join(repoDir, 'refs', 'main'), 'utf8'), commit);
});

test('progress callbacks report bytes up to the total', async (t) => {
  const { hub, opts, files } = await setup();
  t.teardown(() => hub.close());
  const events: ProgressEvent[] = [];
  await resolveModel(ID, { ...opts, progress: (e) => events.push(e) });
  const onnx = events.filter((e) => e.file === `${ID}/onnx/model.onnx`);
  const size = (files['onnx/model.onnx'] as Buffer).length;
  t.true(onnx.length >= 2);
  t.true(onnx.every((e) => e.total === size));
  t.is(onnx.at(-1)?.loaded, size);
});

test('an unreachable hub is a DownloadError that says what was tried', async (t) => {
  const { hub, opts } = await setup();
  await hub.close();
  const err = await t.throwsAsync(resolveModel(ID, opts), { instanceOf: DownloadError });
  t.is(err?.code, 'ERR_DOWNLOAD');
  t.regex(err?.message ?? '', /- cache .*no cached snapshot/);
  t.regex(err?.message ?? '', /- hub http:\/\/127\.0\.0\.1:\d+: cannot reach/);
});
