/**
 * Install hygiene, checked on the committed manifest and lockfile: every locked package runs on
 * the oldest Node the `engines` field promises, onnxruntime-node's CUDA download stays off
 * without an npm config npm warns about, and the lockfile is the one npm writes for this
 * manifest (so `npm install` leaves a fresh clone unchanged).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import semver from 'semver';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface Manifest {
  name: string;
  version: string;
  engines?: { node?: string };
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  bin?: Record<string, string>;
  allowScripts?: Record<string, boolean>;
  overrides?: Record<string, unknown>;
}

interface LockEntry {
  version?: string;
  engines?: { node?: string } | string[];
  hasInstallScript?: boolean;
  optional?: boolean;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  bin?: Record<string, string>;
}

const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as Manifest;
const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as {
  lockfileVersion: number;
  packages: Record<string, LockEntry>;
};

/** The package name of a lockfile key such as `node_modules/a/node_modules/@b/c`. */
function packageName(key: string): string {
  const at = key.lastIndexOf('node_modules/');
  return key.slice(at + 'node_modules/'.length);
}

test('every locked package supports the oldest Node that engines promises', (t) => {
  const promised = semver.minVersion(manifest.engines?.node ?? '');
  t.truthy(promised, 'package.json states engines.node');
  const oldest = promised?.version ?? '0.0.0';
  const offenders: string[] = [];
  for (const [key, entry] of Object.entries(lock.packages)) {
    if (key === '') continue;
    const engines = entry.engines;
    const range = engines !== undefined && !Array.isArray(engines) ? engines.node : undefined;
    if (range === undefined) continue;
    if (!semver.satisfies(oldest, range))
      offenders.push(`${packageName(key)}@${entry.version}: node ${range}`);
  }
  t.deepEqual(offenders, [], `packages that need a newer Node than ${oldest}`);
});

test('onnxruntime-node install scripts are denied by allowScripts, and no unknown npm config is used', (t) => {
  t.is(manifest.allowScripts?.['onnxruntime-node'], false);
  // Every other locked package with an install script is reviewed explicitly (allowed or denied).
  const unreviewed = new Set<string>();
  for (const [key, entry] of Object.entries(lock.packages)) {
    if (key === '' || entry.hasInstallScript !== true) continue;
    const name = packageName(key);
    if (manifest.allowScripts?.[name] === undefined) unreviewed.add(name);
  }
  t.deepEqual([...unreviewed], []);
  const npmrc = path.join(root, '.npmrc');
  const text = existsSync(npmrc) ? readFileSync(npmrc, 'utf8') : '';
  t.notRegex(text, /onnxruntime-node-install/);
});

test('the lockfile matches the manifest as npm 11 writes it', (t) => {
  t.is(lock.lockfileVersion, 3);
  const top = lock.packages[''];
  t.truthy(top);
  t.deepEqual(top?.dependencies ?? {}, manifest.dependencies ?? {});
  t.deepEqual(top?.devDependencies ?? {}, manifest.devDependencies ?? {});
  const bins = Object.fromEntries(Object.entries(manifest.bin ?? {}).map(([k, v]) => [k, path.normalize(v)]));
  t.deepEqual(top?.bin ?? {}, bins);
  // npm 11 records the optional platform packages of every platform, not only this machine's.
  const biomePlatforms = Object.keys(lock.packages).filter((k) => k.startsWith('node_modules/@biomejs/cli-'));
  t.true(biomePlatforms.length > 2, 'optional platform packages of other platforms are locked');
  for (const [dep, spec] of Object.entries({ ...manifest.dependencies, ...manifest.devDependencies })) {
    const entry = lock.packages[`node_modules/${dep}`];
    t.truthy(entry, `${dep} is locked`);
    if (entry?.version !== undefined)
      t.true(semver.satisfies(entry.version, spec), `${dep} ${entry.version} ~ ${spec}`);
  }
});
