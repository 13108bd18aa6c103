/**
 * Audio benchmark: the native decoder (WAV parse, down-mix, ffmpeg-compatible resampling) and
 * Whisper log-mel features against straightforward plain-JavaScript versions of the same steps
 * (a WAV reader with a linear-interpolation resampler; a direct DFT log-mel), on synthetic audio.
 * Writes bench/results/audio.json and bench/results/audio.md.
 *
 *   node --import=tsx bench/audio.js [--seconds 10] [--runs 5]
 *
 * The JavaScript baselines are simpler algorithms (their output differs from the reference);
 * they show what the native core costs against doing the work in plain JS on the event loop.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { audioFeatures, decodeAudio } from '../ts/index.js';
import { machine } from './machine.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const resultsDir = path.join(here, 'results');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}
const SECONDS = Number(arg('seconds', '10'));
const RUNS = Number(arg('runs', '5'));

/** A 16-bit PCM WAV of `seconds` of a tone plus noise. */
function wav(seconds, rate, channels) {
  const frames = Math.round(seconds * rate);
  const data = Buffer.alloc(frames * channels * 2);
  let seed = 1;
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < channels; c++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const v = 0.3 * Math.sin((2 * Math.PI * 440 * (c + 1) * i) / rate) + 0.05 * (seed / 0x7fffffff - 0.5);
      data.writeInt16LE(Math.round(v * 32767), (i * channels + c) * 2);
    }
  }
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVEfmt ', 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(channels, 22);
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * channels * 2, 28);
  header.writeUInt16LE(channels * 2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}

/** Plain JS: 16-bit PCM WAV -> mono mean -> linear interpolation to `target`. */
function jsDecode(bytes, target) {
  const channels = bytes.readUInt16LE(22);
  const rate = bytes.readUInt32LE(24);
  const frames = bytes.readUInt32LE(40) / (2 * channels);
  const mono = new Float32Array(frames);
  for (let i = 0; i < frames; i++) {
    let s = 0;
    for (let c = 0; c < channels; c++) s += bytes.readInt16LE(44 + (i * channels + c) * 2) / 32768;
    mono[i] = s / channels;
  }
  const n = Math.floor((frames * target) / rate);
  const out = new Float32Array(n);
  for (let j = 0; j < n; j++) {
    const t = (j * rate) / target;
    const i = Math.floor(t);
    const f = t - i;
    out[j] = (mono[i] ?? 0) * (1 - f) + (mono[Math.min(i + 1, frames - 1)] ?? 0) * f;
  }
  return out;
}

/** Plain JS: Whisper-shaped log-mel (400-point direct DFT, hop 160, 80 triangular filters). */
function jsLogMel(samples) {
  const nFft = 400;
  const hop = 160;
  const bins = 201;
  const mels = 80;
  const padded = new Float32Array(480000 + nFft);
  padded.set(samples.subarray(0, 480000), nFft / 2);
  const frames = 3000;
  const cos = new Float64Array(nFft * bins);
  const sin = new Float64Array(nFft * bins);
  for (let k = 0; k < bins; k++) {
    for (let n = 0; n < nFft; n++) {
      cos[k * nFft + n] = Math.cos((2 * Math.PI * k * n) / nFft);
      sin[k * nFft + n] = Math.sin((2 * Math.PI * k * n) / nFft);
    }
  }
  const win = Float64Array.from({ length: nFft }, (_, n) => 0.5 - 0.5 * Math.cos((2 * Math.PI * n) / nFft));
  const out = new Float32Array(mels * frames);
  const frame = new Float64Array(nFft);
  const power = new Float64Array(bins);
  for (let f = 0; f < frames; f++) {
    for (let n = 0; n < nFft; n++) frame[n] = (padded[f * hop + n] ?? 0) * (win[n] ?? 0);
    for (let k = 0; k < bins; k++) {
      let re = 0;
      let im = 0;
      for (let n = 0; n < nFft; n++) {
        re += (frame[n] ?? 0) * (cos[k * nFft + n] ?? 0);
        im -= (frame[n] ?? 0) * (sin[k * nFft + n] ?? 0);
      }
      power[k] = re * re + im * im;
    }
    for (let m = 0; m < mels; m++) {
      const lo = Math.floor((m * bins) / (mels + 1));
      const hi = Math.floor(((m + 2) * bins) / (mels + 1));
      let s = 0;
      for (let k = lo; k < hi; k++) s += power[k] ?? 0;
      out[m * frames + f] = Math.log10(Math.max(s, 1e-10));
    }
  }
  return out;
}

async function time(fn) {
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

const file = wav(SECONDS, 44100, 2);
const rows = [];
const decodeNative = await time(() => decodeAudio(file, { samplingRate: 16000 }));
const decodeJs = await time(() => jsDecode(file, 16000));
rows.push({
  step: `decode ${SECONDS} s 44.1 kHz stereo WAV -> 16 kHz mono`,
  native_ms: decodeNative,
  js_ms: decodeJs,
});
const samples = (await decodeAudio(file, { samplingRate: 16000 })).samples;
const melNative = await time(() => audioFeatures(samples, { kind: 'whisper' }));
const melJs = await time(() => jsLogMel(samples));
rows.push({ step: 'Whisper log-mel, 80 bins, 30 s window', native_ms: melNative, js_ms: melJs });
const norm = await time(() => audioFeatures(samples, { kind: 'wav2vec2', doNormalize: true }));
rows.push({ step: `Wav2Vec2 normalisation, ${SECONDS} s`, native_ms: norm, js_ms: null });

const result = { machine: machine(), seconds: SECONDS, runs: RUNS, rows };
mkdirSync(resultsDir, { recursive: true });
writeFileSync(path.join(resultsDir, 'audio.json'), `${JSON.stringify(result, null, 2)}\n`);
const md = [
  '| step | native (median ms) | plain JS (median ms) | speed-up |',
  '| --- | ---: | ---: | ---: |',
  ...rows.map(
    (r) =>
      `| ${r.step} | ${r.native_ms.toFixed(1)} | ${r.js_ms === null ? '–' : r.js_ms.toFixed(1)} | ${
        r.js_ms === null ? '–' : `${(r.js_ms / r.native_ms).toFixed(1)}×`
      } |`,
  ),
].join('\n');
writeFileSync(path.join(resultsDir, 'audio.md'), `${md}\n`);
console.log(md);
