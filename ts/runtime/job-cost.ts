/**
 * What a job costs, and how rows of different lengths are best cut into jobs.
 *
 * A run of the network costs a fixed part (reading every weight from memory once, launching
 * each kernel, the trip to the worker) plus a part that grows with the padded tokens it
 * computes. On the real models of the benchmark the fixed part is worth about 20 tokens of a
 * one-thread run (all-MiniLM-L6-v2 int8, a q4 BERT and a BERT-base-size fp32 model alike): one
 * more job costs as much as a whole short sentence. Stacking rows of different lengths pads the
 * shorter ones, and splitting them pays the fixed part again; `partitionByLength` finds the cut
 * of the least total cost, and `JobCostModel` learns the fixed part of each model from the jobs
 * it ran.
 */

/** The fixed part of a job, in tokens, assumed until a model has run enough jobs to measure it. */
export const DEFAULT_FIXED_TOKENS = 16;
/** The fixed part is never taken above this (a model whose runs barely grow with tokens). */
export const MAX_FIXED_TOKENS = 256;

/**
 * Learns `ms ~ fixed + perToken * paddedTokens` from the jobs of one model (a least-squares line,
 * recent jobs weighing more) and reports the fixed part in tokens (`fixed / perToken`).
 */
export class JobCostModel {
  readonly #decay: number;
  #n = 0;
  #w = 0;
  #x = 0;
  #y = 0;
  #xx = 0;
  #xy = 0;
  #fixedTokens: number;

  constructor(initialFixedTokens = DEFAULT_FIXED_TOKENS, decay = 0.97) {
    this.#fixedTokens = initialFixedTokens;
    this.#decay = decay;
  }

  /** Jobs observed so far. */
  get samples(): number {
    return this.#n;
  }

  /** The fixed part of a job in padded tokens: the padding worth adding to save one job. */
  get fixedTokens(): number {
    return this.#fixedTokens;
  }

  /** Records a job of `paddedTokens` (rows x length) that took `ms` to run. */
  observe(paddedTokens: number, ms: number): void {
    if (!(paddedTokens > 0) || !(ms >= 0) || !Number.isFinite(ms)) return;
    const d = this.#decay;
    this.#n++;
    this.#w = this.#w * d + 1;
    this.#x = this.#x * d + paddedTokens;
    this.#y = this.#y * d + ms;
    this.#xx = this.#xx * d + paddedTokens * paddedTokens;
    this.#xy = this.#xy * d + paddedTokens * ms;
    if (this.#n < 4) return;
    const w = this.#w;
    const meanX = this.#x / w;
    const meanY = this.#y / w;
    const varX = this.#xx / w - meanX * meanX;
    // Jobs of nearly one size say nothing about how cost grows with size: keep the estimate.
    if (!(varX > (0.05 * meanX) ** 2)) return;
    const slope = (this.#xy / w - meanX * meanY) / varX;
    if (!(slope > 0)) return;
    const fixed = meanY - slope * meanX;
    this.#fixedTokens = Math.min(MAX_FIXED_TOKENS, Math.max(0, fixed / slope));
  }
}

/** Limits of one job when rows are cut by length. */
export interface PartitionLimits {
  /** Most rows in one job. */
  rows: number;
  /** Most padded tokens (rows x longest length) in one job. */
  tokens: number;
  /** Largest share of a job's tokens that may be padding (0 to 1). */
  padding: number;
  /** The fixed cost of a job in tokens (see `JobCostModel`). */
  fixedTokens: number;
  /** Most real tokens in one job unless it holds a single item (spreads work over workers). */
  realTokens?: number;
}

/**
 * Cuts items sorted by length (`lens` ascending, `rows` each) into consecutive groups within
 * `limits`, of the least total cost (one fixed part per group plus its padded tokens). Returns
 * each group's [start, end) range, in order. An item that fits no group with others is a group
 * of its own, whatever the limits.
 */
export function partitionByLength(
  lens: readonly number[],
  rows: readonly number[],
  limits: PartitionLimits,
): Array<[number, number]> {
  const n = lens.length;
  if (n === 0) return [];
  const cost = new Float64Array(n + 1).fill(Number.POSITIVE_INFINITY);
  const from = new Int32Array(n + 1);
  cost[0] = 0;
  const realCap = limits.realTokens ?? Number.POSITIVE_INFINITY;
  for (let end = 1; end <= n; end++) {
    const len = lens[end - 1] as number;
    let r = 0;
    let real = 0;
    // Groups ending at `end`, growing to the left; the longest row is the last one.
    for (let start = end - 1; start >= 0; start--) {
      const itemRows = rows[start] as number;
      r += itemRows;
      real += itemRows * (lens[start] as number);
      const single = start === end - 1;
      const padded = r * len;
      if (!single) {
        if (r > limits.rows || padded > limits.tokens || real > realCap) break;
        // Padding only grows as the group reaches shorter rows; keep looking, it cannot recover.
        if (padded - real > limits.padding * padded) break;
      }
      const c = (cost[start] as number) + limits.fixedTokens + padded;
      if (c < (cost[end] as number)) {
        cost[end] = c;
        from[end] = start;
      }
    }
  }
  const groups: Array<[number, number]> = [];
  for (let end = n; end > 0; end = from[end] as number) groups.push([from[end] as number, end]);
  return groups.reverse();
}
