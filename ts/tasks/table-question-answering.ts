/**
 * Table question answering (`table-question-answering`): task contract section 9, for TAPAS
 * models. The TAPAS tokenizer (native) flattens the question and the table into one sequence
 * with seven token type ids; the ONNX graph returns the cell-selection `logits` (after TAPAS's
 * own column selection) and, with an aggregation head, `logits_aggregation`; answer cells are
 * the cells whose mean token probability is above 0.5.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fromNative, InvalidParameterError, ModelError } from '../errors.js';
import {
  NativeTapasTokenizer,
  type NativeTapasTokenizer as NativeTapasTokenizerType,
  tapasArgmax,
  tapasPredictCoordinates,
  tapasPreviousAnswerLabels,
} from '../native.js';
import type { LoadedModel } from '../runtime/model.js';
import { int64Tensor, type TensorLike } from '../runtime/runner.js';
import type {
  TableQuestionAnsweringOutput,
  TableQuestionAnsweringOutputElement,
} from '../types/table-question-answering.js';
import { checkText, describeValue, has, invalidInput, parametersObject } from './params.js';
import type { TaskContext, TaskDefinition, TaskRun } from './task.js';

/** Number of token type ids per token. */
const TOKEN_TYPES = 7;
/** Cells whose mean token probability is above this are answers (the reference's value). */
const CELL_THRESHOLD = 0.5;

/**
 * Limits of one call. The reference has none; these keep a request from tying up the process.
 * Change them before creating a pipeline.
 */
export const TABLE_QA_LIMITS = {
  /** Most cells (rows x columns, header excluded) in a table. */
  maxCells: 100_000,
  /** Most characters (UTF-16 units) over all cells, column names and queries. */
  maxChars: 2_000_000,
  /** Most queries in one call. */
  maxQueries: 64,
};

/** A validated table: column names and the cells of each column. */
export interface ParsedTable {
  columns: string[];
  cells: string[][];
  rows: number;
}

/** A validated call input: one table and its queries. */
export interface ParsedTableInput {
  table: ParsedTable;
  queries: string[];
  /** The queries came as a list. */
  batched: boolean;
}

function checkTable(v: unknown, name: string): ParsedTable {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw invalidInput(`\`${name}\` must be an object {column: [cells]} (got ${describeValue(v)})`);
  }
  const columns: string[] = [];
  const cells: string[][] = [];
  let rows = -1;
  let total = 0;
  let chars = 0;
  for (const [column, values] of Object.entries(v as Record<string, unknown>)) {
    if (!Array.isArray(values)) {
      throw invalidInput(
        `column ${JSON.stringify(column)} of \`${name}\` must be a list of cells (got ${describeValue(values)})`,
      );
    }
    const list: string[] = [];
    for (const [r, cell] of values.entries()) {
      if (typeof cell !== 'string') {
        throw invalidInput(
          `table cells must be strings: column ${JSON.stringify(column)}, row ${r} is ${describeValue(cell)}`,
        );
      }
      list.push(checkText(`${name}[${JSON.stringify(column)}][${r}]`, cell));
      chars += cell.length;
    }
    if (rows >= 0 && list.length !== rows)
      throw invalidInput('All rows in the table must be the same length');
    rows = list.length;
    columns.push(checkText(`${name} column name`, column));
    chars += column.length;
    cells.push(list);
    total += list.length;
  }
  if (columns.length === 0 || rows <= 0) throw invalidInput('table is empty');
  if (total > TABLE_QA_LIMITS.maxCells) {
    throw invalidInput(`the table has ${total} cells; the limit is ${TABLE_QA_LIMITS.maxCells}`);
  }
  if (chars > TABLE_QA_LIMITS.maxChars) {
    throw invalidInput(`the table has ${chars} characters; the limit is ${TABLE_QA_LIMITS.maxChars}`);
  }
  return { columns, cells, rows };
}

function checkQueries(v: unknown, name: string): { queries: string[]; batched: boolean } {
  if (v === undefined || v === null || v === '') throw invalidInput('query is empty');
  if (typeof v === 'string') return { queries: [checkText(name, v)], batched: false };
  if (Array.isArray(v)) {
    if (v.length === 0) throw invalidInput('query is empty');
    if (v.length > TABLE_QA_LIMITS.maxQueries) {
      throw invalidInput(`${v.length} queries in one call; the limit is ${TABLE_QA_LIMITS.maxQueries}`);
    }
    const queries = v.map((q, i) => {
      if (typeof q !== 'string') {
        throw invalidInput(`\`${name}[${i}]\` must be a string (got ${describeValue(q)})`);
      }
      return checkText(`${name}[${i}]`, q);
    });
    return { queries, batched: true };
  }
  throw invalidInput(`\`${name}\` must be a string or a list of strings (got ${describeValue(v)})`);
}

/** Validates one `{table, query}` input (`question` is accepted for `query`). */
export function tableInput(v: unknown, name = 'inputs'): ParsedTableInput {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw invalidInput(`\`${name}\` must be an object {table, query} (got ${describeValue(v)})`);
  }
  const obj = v as Record<string, unknown>;
  if (obj.table === undefined) throw invalidInput('Keyword argument `table` cannot be None.');
  if (obj.table === null) throw invalidInput('Table cannot be None.');
  const key = has(obj, 'query') && obj.query !== null ? 'query' : 'question';
  const table = checkTable(obj.table, `${name}.table`);
  return { table, ...checkQueries(obj[key], `${name}.${key}`) };
}

/** Resolved call parameters. */
export interface TableQaParameters {
  sequential: boolean;
  padding: 'true' | 'longest' | 'max_length' | 'do_not_pad';
  truncation: 'drop_rows_to_fit' | 'do_not_truncate';
}

/** Validates `sequential`, `padding` and `truncation`. */
export function tableQaParameters(parameters: unknown): TableQaParameters {
  const params = parametersObject(parameters);
  let sequential = false;
  if (has(params, 'sequential')) {
    if (typeof params.sequential !== 'boolean') {
      throw new InvalidParameterError(
        'sequential',
        `\`sequential\` must be a boolean (got ${describeValue(params.sequential)})`,
      );
    }
    sequential = params.sequential;
  }
  let padding: TableQaParameters['padding'] = 'true';
  if (has(params, 'padding')) {
    const p = params.padding;
    if (p === true) padding = 'true';
    else if (p === false || p === 'do_not_pad') padding = 'do_not_pad';
    else if (p === 'longest' || p === 'max_length') padding = p;
    else {
      throw new InvalidParameterError(
        'padding',
        `\`padding\` must be true, false, "longest", "max_length" or "do_not_pad" (got ${describeValue(p)})`,
      );
    }
  }
  let truncation: TableQaParameters['truncation'] = 'drop_rows_to_fit';
  if (has(params, 'truncation')) {
    const t = params.truncation;
    if (t === true || t === 'drop_rows_to_fit') truncation = 'drop_rows_to_fit';
    else if (t === false || t === 'do_not_truncate') truncation = 'do_not_truncate';
    else {
      throw new InvalidParameterError(
        'truncation',
        `\`truncation\` must be true, false, "drop_rows_to_fit" or "do_not_truncate" (got ${describeValue(t)})`,
      );
    }
  }
  return { sequential, padding, truncation };
}

/** Runs a native call, turning its errors into coded library errors. */
function native<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw fromNative(err);
  }
}

/** The TAPAS tokenizer of a model folder (vocab.txt and tokenizer_config.json). */
export function loadTapasTokenizer(dir: string): NativeTapasTokenizerType {
  const vocabFile = path.join(dir, 'vocab.txt');
  if (!existsSync(vocabFile)) {
    throw new ModelError('ERR_MODEL_LOAD', `${dir} has no vocab.txt (the TAPAS tokenizer needs it)`);
  }
  const configFile = path.join(dir, 'tokenizer_config.json');
  const config = existsSync(configFile) ? readFileSync(configFile, 'utf8') : '';
  return native(() => NativeTapasTokenizer.fromFiles(readFileSync(vocabFile, 'utf8'), config));
}

/** `aggregation_labels` of a config with an aggregation head, else null. */
/**
 * The aggregation head's labels, and the index that means "no aggregation" (`null` when the
 * config states no number: TapasConfig's default None, which no prediction equals, so every
 * answer then carries its aggregator prefix, as in the reference).
 */
function aggregationLabels(model: LoadedModel): { labels: Map<number, string>; none: number | null } | null {
  const raw = model.config.raw;
  const labels = raw.aggregation_labels;
  const count = raw.num_aggregation_labels;
  if (typeof labels !== 'object' || labels === null || typeof count !== 'number' || count <= 0) return null;
  const map = new Map<number, string>();
  for (const [k, v] of Object.entries(labels as Record<string, unknown>)) {
    if (typeof v === 'string' && /^\d+$/.test(k)) map.set(Number(k), v);
  }
  if (map.size === 0) return null;
  const none = typeof raw.no_aggregation_label_index === 'number' ? raw.no_aggregation_label_index : null;
  return { labels: map, none };
}

function rowOf<T extends BigInt64Array | Float32Array>(data: T, row: number, width: number): T {
  return data.subarray(row * width, (row + 1) * width) as T;
}

function create(ctx: TaskContext): TaskRun {
  const { model } = ctx;
  const tokenizer = loadTapasTokenizer(model.dir);
  const agg = aggregationLabels(model);
  const outputs = model.runner.outputNames;
  if (!outputs.includes('logits')) {
    throw new ModelError(
      'ERR_MODEL_LOAD',
      `model ${model.id} has no \`logits\` output (a TAPAS graph is needed)`,
    );
  }
  if (agg !== null && !outputs.includes('logits_aggregation')) {
    throw new ModelError(
      'ERR_MODEL_LOAD',
      `model ${model.id} has aggregation_labels in config.json but no \`logits_aggregation\` output`,
    );
  }
  const wanted = agg === null ? ['logits'] : ['logits', 'logits_aggregation'];

  async function forward(
    ids: BigInt64Array,
    mask: BigInt64Array,
    types: BigInt64Array,
    rows: number,
    len: number,
  ): Promise<{ logits: Float32Array; agg: Float32Array | null }> {
    const feeds: Record<string, TensorLike> = {
      input_ids: int64Tensor(ids, [rows, len]),
      attention_mask: int64Tensor(mask, [rows, len]),
      token_type_ids: int64Tensor(types, [rows, len, TOKEN_TYPES]),
    };
    const out = await model.runner.run(feeds, { outputs: wanted });
    const logits = out.logits;
    if (logits === undefined || !(logits.data instanceof Float32Array) || logits.data.length !== rows * len) {
      throw new ModelError(
        'ERR_MODEL_RUN',
        `model ${model.id}: \`logits\` is not a float32 [${rows}, ${len}] tensor`,
      );
    }
    let aggLogits: Float32Array | null = null;
    if (agg !== null) {
      const a = out.logits_aggregation;
      if (a === undefined || !(a.data instanceof Float32Array) || a.data.length % rows !== 0) {
        throw new ModelError('ERR_MODEL_RUN', `model ${model.id}: bad \`logits_aggregation\` output`);
      }
      aggLogits = a.data;
    }
    return { logits: logits.data, agg: aggLogits };
  }

  async function answer(
    input: ParsedTableInput,
    params: TableQaParameters,
  ): Promise<TableQuestionAnsweringOutput> {
    const { table, queries, batched } = input;
    const enc = native(() =>
      tokenizer.encode(table.columns, table.cells.flat(), table.rows, queries, {
        truncation: params.truncation,
        padding: params.padding,
        batched,
      }),
    );
    const rows = enc.batch;
    const len = enc.seqLen;
    const logits = new Float32Array(rows * len);
    let aggLogits: Float32Array | null = null;
    const types = enc.tokenTypeIds;
    if (params.sequential && rows > 1) {
      const aggParts: Float32Array[] = [];
      const w = len * TOKEN_TYPES;
      for (let r = 0; r < rows; r++) {
        let rowTypes: BigInt64Array = rowOf(types, r, w).slice();
        if (r > 0) {
          rowTypes = tapasPreviousAnswerLabels(
            logits.subarray((r - 1) * len, r * len),
            rowOf(enc.attentionMask, r - 1, len),
            rowOf(types, r - 1, w),
            rowTypes,
          );
          types.set(rowTypes, r * w);
        }
        const out = await forward(
          rowOf(enc.inputIds, r, len).slice(),
          rowOf(enc.attentionMask, r, len).slice(),
          rowTypes,
          1,
          len,
        );
        logits.set(out.logits, r * len);
        if (out.agg !== null) aggParts.push(out.agg);
      }
      if (agg !== null) {
        aggLogits = new Float32Array(aggParts.reduce((n, p) => n + p.length, 0));
        let at = 0;
        for (const p of aggParts) {
          aggLogits.set(p, at);
          at += p.length;
        }
      }
    } else {
      const out = await forward(enc.inputIds, enc.attentionMask, types, rows, len);
      logits.set(out.logits);
      aggLogits = out.agg;
    }
    const answers: TableQuestionAnsweringOutputElement[] = [];
    for (let r = 0; r < rows; r++) {
      const flat = tapasPredictCoordinates(
        logits.subarray(r * len, (r + 1) * len),
        rowOf(enc.attentionMask, r, len),
        rowOf(types, r, len * TOKEN_TYPES),
        CELL_THRESHOLD,
      );
      const coordinates: [number, number][] = [];
      const cells: string[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const row = flat[i] as number;
        const col = flat[i + 1] as number;
        coordinates.push([row, col]);
        cells.push(table.cells[col]?.[row] ?? '');
      }
      let aggregator = '';
      let prefix = '';
      if (agg !== null && aggLogits !== null) {
        const width = aggLogits.length / rows;
        const index = tapasArgmax(aggLogits.subarray(r * width, (r + 1) * width)) ?? 0;
        const label = agg.labels.get(index);
        if (label === undefined) {
          // The reference fails on the missing key (a KeyError).
          throw new ModelError(
            'ERR_MODEL_RUN',
            `model ${model.id}: the aggregation head predicted ${index}, which config.json's aggregation_labels does not name`,
          );
        }
        aggregator = label;
        if (agg.none === null || index !== agg.none) prefix = `${aggregator} > `;
      }
      const result: TableQuestionAnsweringOutputElement = {
        answer: prefix + cells.join(', '),
        coordinates,
        cells,
      };
      if (aggregator !== '') result.aggregator = aggregator;
      answers.push(result);
    }
    return answers.length > 1 ? answers : (answers[0] as TableQuestionAnsweringOutputElement);
  }

  return async (inputs, parameters) => {
    const params = tableQaParameters(parameters);
    if (Array.isArray(inputs)) {
      if (inputs.length === 0) throw invalidInput('At least one input is required.');
      const items = inputs.map((v, i) => tableInput(v, `inputs[${i}]`));
      const results: TableQuestionAnsweringOutput[] = [];
      for (const item of items) results.push(await answer(item, params));
      return results.length === 1 ? results[0] : results;
    }
    return answer(tableInput(inputs), params);
  };
}

const tableQuestionAnswering: TaskDefinition = { create };
export default tableQuestionAnswering;
