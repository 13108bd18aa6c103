/**
 * The benchmark's inputs: deterministic English-like sentences (a seeded generator over a fixed
 * vocabulary with names, places, e-mail addresses and numbers, so NER models find entities).
 * Every implementation gets exactly the same strings.
 */

const WORDS = `the a of to and in is was for on that with as at by from it this be are were an or
have has had not but which their more time people year way day thing man world life hand part
child eye woman place work week case point company number group problem fact report team city
market service project system program question government house office meeting price history
new good first last long great little own other old right big high different small large next
early young important few public bad same able said made found used called went came took gave
told asked seemed felt left showed became brought began kept held wrote stood heard moved paid
met ran sent built lost fell spent grew opened walked offered remembered considered appeared
bought waited served died expected stayed reached returned explained hoped developed carried
quickly really almost always often still already never together however perhaps yesterday today`
  .split(/\s+/)
  .filter(Boolean);

const NAMES = [
  'Sarah Jessica Parker',
  'John Smith',
  'Maria Garcia',
  'Wei Chen',
  'Fatima Ahmed',
  'Oliver Brown',
  'Aiko Tanaka',
  'Lucas Martin',
];
const PLACES = ['Paris', 'New York', 'Berlin', 'Tokyo', 'Lagos', 'Buenos Aires', 'Toronto', 'Mumbai'];
const ORGS = ['Acme Corp', 'the United Nations', 'Globex', 'Initech', 'the Red Cross'];

/** mulberry32: a small seeded PRNG. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick(next, list) {
  return list[Math.floor(next() * list.length)];
}

function sentence(next, words) {
  const out = [];
  while (out.length < words) {
    const r = next();
    if (r < 0.05) out.push(pick(next, NAMES));
    else if (r < 0.08) out.push(pick(next, PLACES));
    else if (r < 0.1) out.push(pick(next, ORGS));
    else if (r < 0.11) out.push(`${pick(next, NAMES).split(' ')[0].toLowerCase()}@example.com`);
    else if (r < 0.12) out.push(String(Math.floor(next() * 100000)));
    else out.push(pick(next, WORDS));
  }
  const text = out.slice(0, words).join(' ');
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;
}

/** `n` short sentences of `minWords` to `maxWords` words. */
export function shortTexts(n, seed = 1, minWords = 8, maxWords = 24) {
  const next = rng(seed);
  return Array.from({ length: n }, () =>
    sentence(next, minWords + Math.floor(next() * (maxWords - minWords + 1))),
  );
}

/** `n` long inputs of about `words` words each (several sentences). */
export function longTexts(n, words, seed = 2) {
  const next = rng(seed);
  return Array.from({ length: n }, () => {
    const parts = [];
    let count = 0;
    while (count < words) {
      const w = Math.min(words - count, 10 + Math.floor(next() * 15));
      parts.push(sentence(next, w));
      count += w;
    }
    return parts.join(' ');
  });
}

/** Sentence-similarity requests: a source and three candidate sentences each. */
export function similarityInputs(n, seed = 3, minWords = 8, maxWords = 24) {
  const texts = shortTexts(n * 4, seed, minWords, maxWords);
  return Array.from({ length: n }, (_, i) => ({
    source_sentence: texts[i * 4],
    sentences: texts.slice(i * 4 + 1, i * 4 + 4),
  }));
}
