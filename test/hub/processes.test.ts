/**
 * Several processes sharing one cache, and settings taken from the environment
 * (HF_ENDPOINT, HF_HUB_CACHE, HF_TOKEN, HF_HUB_OFFLINE) as Python's huggingface_hub reads them.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { FakeHub } from './helpers/fake-hub.js';
import { readSnapshotFile, removeTempDirs, tempDir, tokenClassificationRepo } from './helpers/repo.js';

test.after.always(removeTempDirs);

const CHILD = fileURLToPath(new URL('./helpers/resolve-child.ts', import.meta.url));

interface ChildResult {
  ok: boolean;
  code?: string;
  name?: string;
  message?: string;
  model?: { dir: string; onnxFile: string; source: string; commit: string };
}

function runChild(id: string, env: Record<string, string>, extra: object = {}): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, id, JSON.stringify(extra)], {
      env: { ...process.env, HF_HUB_OFFLINE: '', HF_TOKEN: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.trim().split('\n').at(-1) ?? '';
      try {
        resolve(JSON.parse(line) as ChildResult);
      } catch {
        reject(new Error(`child exited ${code}: ${out}\n${err}`));
      }
    });
  });
}

test('two processes fetching one model share the download through the lock', async (t) => {
  const hub = await new FakeHub().start();
  t.teardown(() => hub.close());
  const files = tokenClassificationRepo(2_000_000);
  hub.addRevision('acme/shared', 'main', files);
  hub.cdnChunkDelayMs = 2;
  const cacheDir = await tempDir();
  const env = { HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cacheDir };
  const [a, b] = await Promise.all([runChild('acme/shared', env), runChild('acme/shared', env)]);
  t.true(a.ok, a.message);
  t.true(b.ok, b.message);
  t.is(a.model?.dir, b.model?.dir);
  t.true(a.model?.dir.startsWith(cacheDir));
  t.deepEqual(await readSnapshotFile(a.model?.dir ?? '', 'onnx/model.onnx'), files['onnx/model.onnx']);
  // One full GET of the ONNX blob: the second process waited for the first one's blob.
  t.is(hub.cdnRequests.filter((r) => r.method === 'GET').length, 1);
  const blobs = await fs.readdir(path.join(cacheDir, 'models--acme--shared', 'blobs'));
  t.false(blobs.some((b) => b.endsWith('.incomplete')));
});

test('HF_HUB_OFFLINE=1 in the environment never touches the network', async (t) => {
  const hub = await new FakeHub().start();
  t.teardown(() => hub.close());
  hub.addRevision('acme/offline', 'main', tokenClassificationRepo());
  const cacheDir = await tempDir();
  const env = { HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cacheDir, HF_HUB_OFFLINE: '1' };
  const res = await runChild('acme/offline', env);
  t.false(res.ok);
  t.is(res.code, 'ERR_OFFLINE');
  t.is(res.name, 'OfflineError');
  t.true(res.message?.includes(cacheDir));
  t.is(hub.requests.length, 0);
  // Online it downloads; offline again it is answered from the cache.
  const online = await runChild('acme/offline', { ...env, HF_HUB_OFFLINE: '0' });
  t.true(online.ok, online.message);
  const count = hub.requests.length;
  const cached = await runChild('acme/offline', env);
  t.true(cached.ok, cached.message);
  t.is(cached.model?.source, 'cache');
  t.is(hub.requests.length, count);
});

test('HF_HOME places the cache at $HF_HOME/hub and HF_TOKEN opens a gated repository', async (t) => {
  const hub = await new FakeHub().start();
  t.teardown(() => hub.close());
  hub.addRevision('acme/gated', 'main', tokenClassificationRepo(), { token: 'hf_env_token' });
  const home = await tempDir();
  const env = { HF_ENDPOINT: hub.endpoint, HF_HOME: home, HF_HUB_CACHE: '' };
  const denied = await runChild('acme/gated', env);
  t.is(denied.code, 'ERR_UNAUTHORIZED');
  const res = await runChild('acme/gated', { ...env, HF_TOKEN: 'hf_env_token' });
  t.true(res.ok, res.message);
  t.true(res.model?.dir.startsWith(path.join(home, 'hub', 'models--acme--gated', 'snapshots')));
});
