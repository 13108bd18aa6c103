/**
 * Python string semantics the task contracts depend on: `str.strip()` / `str.rstrip()`, `str.format()` with one
 * positional argument, and code-point <-> UTF-16 offset conversion.
 */
import { invalidInput } from './params.js';

/** Characters Python's `str.isspace()` accepts (what `str.strip()` removes). */
const PY_SPACE =
  '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_STRIP = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, 'gu');

/** Python `str.strip()` with no argument. */
export function pyStrip(s: string): string {
  return s.replace(PY_STRIP, '');
}

const PY_RSTRIP = new RegExp(`[${PY_SPACE}]+$`, 'u');

/** Python `str.rstrip()` with no argument. */
export function pyRstrip(s: string): string {
  return s.replace(PY_RSTRIP, '');
}

/** Python `repr()` of a str (used by the `!r` conversion). */
function pyRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if ((ch.codePointAt(0) as number) < 0x20 || ch === '\x7f') {
      out += `\\x${(ch.codePointAt(0) as number).toString(16).padStart(2, '0')}`;
    } else out += ch;
  }
  return out + quote;
}

/**
 * Python `template.format(arg)` for one positional string argument: `{}` and `{0}` (with an
 * optional `!s`/`!r` conversion) are replaced, `{{` and `}}` are literal braces. Anything Python
 * would reject with one argument (a second `{}`, `{1}`, a named field, mixing automatic and
 * manual numbering, unmatched braces, format specs) raises a 400 error with Python's message.
 */
export function pyFormat(template: string, arg: string): string {
  let out = '';
  let auto: boolean | null = null;
  let nextAuto = 0;
  let i = 0;
  while (i < template.length) {
    const c = template.charAt(i);
    if (c === '}') {
      if (template.charAt(i + 1) === '}') {
        out += '}';
        i += 2;
        continue;
      }
      throw invalidInput("Single '}' encountered in format string");
    }
    if (c !== '{') {
      out += c;
      i++;
      continue;
    }
    if (template.charAt(i + 1) === '{') {
      out += '{';
      i += 2;
      continue;
    }
    const close = template.indexOf('}', i + 1);
    if (close < 0) {
      throw invalidInput(
        i + 1 >= template.length
          ? "Single '{' encountered in format string"
          : "expected '}' before end of string",
      );
    }
    let field = template.slice(i + 1, close);
    i = close + 1;
    let conversion = '';
    const bang = field.indexOf('!');
    const colon = field.indexOf(':');
    if (colon >= 0 && (bang < 0 || colon < bang)) {
      if (field.slice(colon + 1).length > 0) {
        throw invalidInput(
          `format spec ${JSON.stringify(field.slice(colon + 1))} is not supported in the template`,
        );
      }
      field = field.slice(0, colon);
    }
    if (bang >= 0 && (colon < 0 || bang < colon)) {
      conversion = field.slice(bang + 1, colon > bang ? colon : undefined);
      field = field.slice(0, bang);
      if (conversion !== 's' && conversion !== 'r') {
        throw invalidInput(
          conversion.length === 1
            ? `Unknown conversion specifier ${conversion}`
            : "expected ':' after conversion specifier",
        );
      }
    }
    let index: number;
    if (field === '') {
      if (auto === false) {
        throw invalidInput('cannot switch from manual field specification to automatic field numbering');
      }
      auto = true;
      index = nextAuto++;
    } else if (/^[0-9]+$/.test(field)) {
      if (auto === true) {
        throw invalidInput('cannot switch from automatic field numbering to manual field specification');
      }
      auto = false;
      index = Number(field);
    } else {
      throw invalidInput(`the template names a field ${JSON.stringify(field)}; only {} or {0} can be filled`);
    }
    if (index !== 0) {
      throw invalidInput(`Replacement index ${index} out of range for positional args tuple`);
    }
    out += conversion === 'r' ? pyRepr(arg) : arg;
  }
  return out;
}

/** Converts code-point offsets of `text` to UTF-16 offsets. */
export function utf16Offsets(text: string): (codePointOffset: number) => number {
  // Fast path: no astral characters, the two units agree.
  if (!/[\ud800-\udbff]/.test(text)) return (cp) => cp;
  const map: number[] = [0];
  let u = 0;
  for (const ch of text) {
    u += ch.length;
    map.push(u);
  }
  return (cp) => map[cp] ?? u;
}

/** Length of `text` in code points (what Python's `len()` gives). */
export function codePointLength(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}
