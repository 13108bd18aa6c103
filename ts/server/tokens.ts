/**
 * Token counts and token listings for the server: usage numbers of `/v1/embeddings`, the
 * `hf_tasks_input_tokens_total` metric, and the TEI `/tokenize` route. Tokenization runs in the
 * native core's async batch encoder, off the event loop.
 */
import type { Tokenizer } from '../tokenizer.js';

/** Tokens of each text with special tokens, before any truncation, summed. */
export async function countTokensOf(tokenizer: Tokenizer, texts: readonly string[]): Promise<number> {
  if (texts.length === 0) return 0;
  const enc = await tokenizer.encodeBatch([...texts], { addSpecialTokens: true, padding: false });
  let n = 0;
  for (const len of enc.lengths) n += len;
  return n;
}

/** One token as TEI's `/tokenize` lists it; `start`/`stop` are code-point offsets, null for special tokens. */
export interface DisplayToken {
  id: number;
  text: string;
  special: boolean;
  start: number | null;
  stop: number | null;
}

/**
 * Tokenizes each text: ids, the text each token covers (special tokens: the token string) and
 * code-point offsets, as `[[token, ...], ...]`.
 */
export async function tokenizeForDisplay(
  tokenizer: Tokenizer,
  texts: readonly string[],
  addSpecialTokens: boolean,
): Promise<DisplayToken[][]> {
  const out: DisplayToken[][] = [];
  for (const text of texts) {
    const enc = await tokenizer.encodeBatch([text], {
      addSpecialTokens,
      padding: false,
      offsets: 'code_points',
    });
    const len = enc.dims[1] ?? 0;
    const ids = Array.from(enc.inputIds.subarray(0, len), (v) => Number(v));
    const pieces = tokenizer.convertIdsToTokens(ids);
    const codePoints = Array.from(text);
    const tokens: DisplayToken[] = [];
    for (let i = 0; i < len; i++) {
      if (enc.attentionMask[i] === 0n) continue;
      const id = ids[i] ?? 0;
      const special = enc.specialTokensMask[i] === 1;
      if (special) {
        tokens.push({ id, text: pieces[i] ?? '', special, start: null, stop: null });
        continue;
      }
      const start = enc.offsets[2 * i] ?? 0;
      const stop = enc.offsets[2 * i + 1] ?? start;
      tokens.push({ id, text: codePoints.slice(start, stop).join(''), special, start, stop });
    }
    out.push(tokens);
  }
  return out;
}
