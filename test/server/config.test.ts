import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import {
  DEFAULT_CONFIG,
  envOverrides,
  parseCors,
  parseDevice,
  parseModelFlag,
  parsePositiveSeconds,
  parseSeconds,
  parseSize,
  readConfigFile,
  resolveConfig,
} from '../../ts/server/config.js';

test('--model ID alone is a hub id whose task comes from its files', (t) => {
  t.deepEqual(parseModelFlag('sentence-transformers/all-MiniLM-L6-v2'), {
    id: 'sentence-transformers/all-MiniLM-L6-v2',
    tasks: [],
  });
});

test('--model ID=PATH:TASK names a local folder and its task', (t) => {
  t.deepEqual(parseModelFlag('org/ner=/models/ner:token-classification', '/base'), {
    id: 'org/ner',
    path: '/models/ner',
    tasks: ['token-classification'],
  });
  t.deepEqual(parseModelFlag('org/ner=rel/dir', '/base'), {
    id: 'org/ner',
    path: '/base/rel/dir',
    tasks: [],
  });
  t.deepEqual(parseModelFlag('org/ner:ner'), { id: 'org/ner', tasks: ['ner'] });
});

test('--model keeps colons inside a path that are not a task suffix', (t) => {
  t.deepEqual(parseModelFlag('x/y=/data/a:b/c', '/'), { id: 'x/y', path: '/data/a:b/c', tasks: [] });
});

test('--model rejects traversal and malformed ids', (t) => {
  for (const bad of ['../etc', 'a/../b', '/abs/path', 'a/b/c', '', 'a%2Fb', 'own er/x']) {
    const err = t.throws(() => parseModelFlag(bad), undefined, bad);
    t.is((err as { code?: string }).code, 'ERR_CONFIG', bad);
  }
});

test('config file: keys, models as objects or strings, paths relative to the file', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hf-tasks-config-'));
  const file = path.join(dir, 'server.json');
  writeFileSync(
    file,
    JSON.stringify({
      port: 9000,
      maxQueue: 3,
      workers: 0,
      batching: false,
      deviceCache: false,
      cache: { maxEntries: 7 },
      models: [{ id: 'a/b', path: 'models/b', tasks: ['text-classification'] }, 'c/d=models/d:fill-mask'],
    }),
  );
  const cfg = readConfigFile(file);
  t.is(cfg.port, 9000);
  t.is(cfg.maxQueue, 3);
  t.is(cfg.workers, 0);
  t.is(cfg.batching, false);
  t.is(cfg.deviceCache, false);
  t.deepEqual(cfg.cache, { maxEntries: 7 });
  t.deepEqual(cfg.models, [
    { id: 'a/b', path: path.join(dir, 'models/b'), tasks: ['text-classification'] },
    { id: 'c/d', path: path.join(dir, 'models/d'), tasks: ['fill-mask'] },
  ]);
});

test('config file: unknown keys and wrong types are errors', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hf-tasks-config-'));
  const write = (value: unknown) => {
    const file = path.join(dir, `c${Math.random()}.json`);
    writeFileSync(file, JSON.stringify(value));
    return file;
  };
  t.throws(() => readConfigFile(write({ prot: 1 })), { message: /unknown key "prot"/ });
  t.throws(() => readConfigFile(write({ port: '80' })), { message: /port must be an integer/ });
  t.throws(() => readConfigFile(write({ deviceCache: 'no' })), { message: /deviceCache/ });
  t.throws(() => readConfigFile(write({ models: [{ id: '../x' }] })), { message: /model id/ });
  t.throws(() => readConfigFile(write([1])), { message: /JSON object/ });
  const broken = path.join(dir, 'broken.json');
  writeFileSync(broken, '{');
  t.throws(() => readConfigFile(broken), { message: /cannot read config file/ });
});

test('device: cpu, webgpu or cuda from the config file or --device; anything else is an error naming them', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hf-tasks-config-'));
  for (const device of ['cpu', 'webgpu', 'cuda'] as const) {
    const file = path.join(dir, `${device}.json`);
    writeFileSync(file, JSON.stringify({ device }));
    t.is(readConfigFile(file).device, device);
    t.is(parseDevice(device, '--device'), device);
    t.is(resolveConfig({ device }).device, device);
  }
  t.is(DEFAULT_CONFIG.device, 'cpu');
  t.is(DEFAULT_CONFIG.deviceCache, true, 'generation caches stay on the device by default');
  const bad = path.join(dir, 'bad.json');
  for (const device of ['gpu', 'WebGPU', 1, null]) {
    writeFileSync(bad, JSON.stringify({ device }));
    t.throws(() => readConfigFile(bad), {
      message: `${bad}: device must be one of "cpu", "webgpu", "cuda" (got ${JSON.stringify(device)})`,
    });
  }
  t.throws(() => parseDevice('vulkan', '--device'), {
    message: /--device must be one of "cpu", "webgpu", "cuda"/,
  });
});

test('precedence: defaults < file < env < flags; same-id models merge their tasks', (t) => {
  const cfg = resolveConfig(
    { port: 9000, host: '0.0.0.0', cache: { maxEntries: 5 } },
    envOverrides({ PORT: '9100', HOST: undefined }),
    {
      port: 9200,
      models: [
        { id: 'm/x', tasks: ['feature-extraction'] },
        { id: 'm/x', tasks: ['sentence-similarity'] },
      ],
    },
  );
  t.is(cfg.port, 9200);
  t.is(cfg.host, '0.0.0.0');
  t.is(cfg.cache.maxEntries, 5);
  t.is(cfg.cache.maxBytes, DEFAULT_CONFIG.cache.maxBytes);
  t.deepEqual(cfg.models, [{ id: 'm/x', tasks: ['feature-extraction', 'sentence-similarity'] }]);
  t.is(resolveConfig(envOverrides({ PORT: '9100' })).port, 9100);
  t.is(resolveConfig().host, '127.0.0.1');
  t.is(resolveConfig().port, 8080);
});

test('env PORT must be a port number', (t) => {
  t.throws(() => envOverrides({ PORT: 'eighty' }), { message: /PORT must be a port number/ });
  t.throws(() => envOverrides({ PORT: '70000' }), { message: /PORT/ });
});

test('sizes parse with units', (t) => {
  t.is(parseSize('4mb', 'x'), 4 * 1024 * 1024);
  t.is(parseSize('512KB', 'x'), 512 * 1024);
  t.is(parseSize('1000', 'x'), 1000);
  t.throws(() => parseSize('lots', 'x'));
});

test('work limits, deadline and CORS: defaults, config file keys and flag parsers', (t) => {
  t.is(DEFAULT_CONFIG.maxInputs, 32);
  t.is(DEFAULT_CONFIG.maxInputTokens, 16_384);
  t.is(DEFAULT_CONFIG.maxCandidateLabels, 32);
  t.is(DEFAULT_CONFIG.requestTimeout, 60);
  t.is(DEFAULT_CONFIG.cors, false);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hf-tasks-config-'));
  const file = path.join(dir, 'limits.json');
  writeFileSync(
    file,
    JSON.stringify({
      maxInputs: 8,
      maxInputTokens: 1000,
      maxCandidateLabels: 5,
      requestTimeout: 2.5,
      cors: ['https://a.example', 'http://localhost:3000/'],
    }),
  );
  const cfg = resolveConfig(readConfigFile(file));
  t.is(cfg.maxInputs, 8);
  t.is(cfg.maxInputTokens, 1000);
  t.is(cfg.maxCandidateLabels, 5);
  t.is(cfg.requestTimeout, 2.5);
  t.deepEqual(cfg.cors, ['https://a.example', 'http://localhost:3000']);
  const bad = (value: unknown) => {
    const f = path.join(dir, `b${Math.random()}.json`);
    writeFileSync(f, JSON.stringify(value));
    return () => readConfigFile(f);
  };
  t.throws(bad({ maxInputs: 0 }), { message: /maxInputs must be an integer/ });
  t.throws(bad({ requestTimeout: -1 }), { message: /requestTimeout must be a number of seconds/ });
  t.throws(bad({ cors: ['not an origin'] }), { message: /cors must be true, false or a list of origins/ });
  t.is(parseSeconds('0', '--request-timeout'), 0);
  t.is(parseSeconds('1.5', '--request-timeout'), 1.5);
  t.throws(() => parseSeconds('soon', '--request-timeout'), { message: /--request-timeout/ });
  t.is(parseCors(true, '--cors'), true);
  t.is(parseCors('*', '--cors'), true);
  t.deepEqual(parseCors('https://a.example,https://b.example', '--cors'), [
    'https://a.example',
    'https://b.example',
  ]);
  t.throws(() => parseCors('a.example', '--cors'), { message: /--cors/ });
});

test('media limits: audio seconds and image pixels from the config file and flags', (t) => {
  t.is(DEFAULT_CONFIG.maxAudioSeconds, 600);
  t.is(DEFAULT_CONFIG.maxImagePixels, 50_000_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hf-tasks-config-'));
  const file = path.join(dir, 'media.json');
  writeFileSync(file, JSON.stringify({ maxAudioSeconds: 12.5, maxImagePixels: 4096 }));
  const cfg = resolveConfig(readConfigFile(file));
  t.is(cfg.maxAudioSeconds, 12.5);
  t.is(cfg.maxImagePixels, 4096);
  const bad = (value: unknown) => {
    const f = path.join(dir, `b${Math.random()}.json`);
    writeFileSync(f, JSON.stringify(value));
    return () => readConfigFile(f);
  };
  t.throws(bad({ maxAudioSeconds: 0 }), { message: /maxAudioSeconds must be a positive number/ });
  t.throws(bad({ maxAudioSeconds: 'long' }), { message: /maxAudioSeconds/ });
  t.throws(bad({ maxImagePixels: 0 }), { message: /maxImagePixels must be an integer/ });
  t.is(parsePositiveSeconds('2.5', '--max-audio-seconds'), 2.5);
  t.throws(() => parsePositiveSeconds('0', '--max-audio-seconds'), { message: /--max-audio-seconds/ });
});
