//! Numbers and dates in questions and table cells, as TAPAS's `number_annotation_utils` finds
//! them (ported from the reference's behaviour): spans of numbers (`1,234.5`, `-3`, `5th`,
//! `three`, `first`) and dates (21 strptime patterns, years 1700..=2016), column
//! consolidation, sort keys and the EQ/LT/GT relations.

use std::collections::HashMap;

use super::text::{is_py_digit, normalize_for_match, py_float, py_isalnum, py_isspace};

/// A parsed value: a number, or a date with the fields its pattern keeps.
#[derive(Debug, Clone, PartialEq)]
pub enum NumericValue {
    /// A float.
    Number(f64),
    /// (year, month, day), each optional.
    Date([Option<f64>; 3]),
}

impl NumericValue {
    fn is_date(&self) -> bool {
        matches!(self, NumericValue::Date(_))
    }
}

/// A span `[begin, end)` of code points and the values read there.
#[derive(Debug, Clone, PartialEq)]
pub struct NumericSpan {
    /// First code point.
    pub begin: usize,
    /// One past the last code point.
    pub end: usize,
    /// Values, in the order the reference appends them.
    pub values: Vec<NumericValue>,
}

const NUMBER_WORDS: [&str; 13] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve",
];
const ORDINAL_WORDS: [&str; 13] = [
    "zeroth", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
    "tenth", "eleventh", "twelfth",
];
const ORDINAL_SUFFIXES: [&str; 4] = ["st", "nd", "rd", "th"];
const MAX_DATE_NGRAM: usize = 5;
const MIN_YEAR: i64 = 1700;
const MAX_YEAR: i64 = 2016;

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const MONTHS_ABBR: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// One element of a date pattern.
#[derive(Clone, Copy)]
enum El {
    Lit(char),
    Space,
    FullMonth,
    AbbrMonth,
    Weekday,
    Year,
    Day,
    Month,
}

/// (pattern, keep year, keep month, keep day), in the reference's order.
const DATE_PATTERNS: [(&str, [bool; 3]); 21] = [
    ("%B", [false, true, false]),
    ("%Y", [true, false, false]),
    ("%Ys", [true, false, false]),
    ("%b %Y", [true, true, false]),
    ("%B %Y", [true, true, false]),
    ("%B %d", [false, true, true]),
    ("%b %d", [false, true, true]),
    ("%d %b", [false, true, true]),
    ("%d %B", [false, true, true]),
    ("%B %d, %Y", [true, true, true]),
    ("%d %B %Y", [true, true, true]),
    ("%m-%d-%Y", [true, true, true]),
    ("%Y-%m-%d", [true, true, true]),
    ("%Y-%m", [true, true, false]),
    ("%B %Y", [true, true, false]),
    ("%d %b %Y", [true, true, true]),
    ("%Y-%m-%d", [true, true, true]),
    ("%b %d, %Y", [true, true, true]),
    ("%d.%m.%Y", [true, true, true]),
    ("%A, %b %d", [false, true, true]),
    ("%A, %B %d", [false, true, true]),
];

fn compile(pattern: &str) -> Vec<El> {
    let mut out = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '%' => out.push(match chars.next() {
                Some('B') => El::FullMonth,
                Some('b') => El::AbbrMonth,
                Some('A') => El::Weekday,
                Some('Y') => El::Year,
                Some('d') => El::Day,
                _ => El::Month,
            }),
            ' ' => out.push(El::Space),
            other => out.push(El::Lit(other)),
        }
    }
    out
}

#[derive(Clone, Copy, Default)]
struct Fields {
    year: Option<i64>,
    month: Option<i64>,
    day: Option<i64>,
}

fn digits_value(chars: &[char]) -> Option<i64> {
    let mut v = 0i64;
    for &c in chars {
        v = v * 10 + i64::from(super::text::decimal_value(c)?);
    }
    Some(v)
}

/// Every way element `el` can consume text at `pos` (strptime's regex alternatives, in order).
fn element_matches(el: El, text: &[char], pos: usize, f: Fields) -> Vec<(usize, Fields)> {
    let rest = &text[pos.min(text.len())..];
    let mut out = Vec::new();
    let word_match = |names: &[&str]| -> Option<(usize, usize)> {
        for (i, name) in names.iter().enumerate() {
            let n = name.chars().count();
            if rest.len() >= n {
                let candidate: String = rest[..n].iter().flat_map(|c| c.to_lowercase()).collect();
                if candidate == *name {
                    return Some((i, n));
                }
            }
        }
        None
    };
    match el {
        El::Lit(c) => {
            if rest
                .first()
                .is_some_and(|x| x.to_lowercase().eq(c.to_lowercase()))
            {
                out.push((pos + 1, f));
            }
        }
        El::Space => {
            let n = rest.iter().take_while(|c| py_isspace(**c)).count();
            for k in (1..=n).rev() {
                out.push((pos + k, f));
            }
        }
        El::FullMonth | El::AbbrMonth => {
            let names: &[&str] = if matches!(el, El::FullMonth) {
                &MONTHS
            } else {
                &MONTHS_ABBR
            };
            if let Some((i, n)) = word_match(names) {
                let mut g = f;
                g.month = Some(i as i64 + 1);
                out.push((pos + n, g));
            }
        }
        El::Weekday => {
            if let Some((_, n)) = word_match(&WEEKDAYS) {
                out.push((pos + n, f));
            }
        }
        El::Year => {
            if rest.len() >= 4 && rest[..4].iter().all(|c| is_py_digit(*c)) {
                let mut g = f;
                g.year = digits_value(&rest[..4]);
                out.push((pos + 4, g));
            }
        }
        El::Day | El::Month => {
            // day: 3[01] | [12]\d | 0[1-9] | [1-9] | " "[1-9]; month: 1[0-2] | 0[1-9] | [1-9]
            let a = rest.first().copied();
            let b = rest.get(1).copied();
            let mut push = |n: usize, v: i64| {
                let mut g = f;
                if matches!(el, El::Day) {
                    g.day = Some(v);
                } else {
                    g.month = Some(v);
                }
                out.push((pos + n, g));
            };
            let ascii = |c: Option<char>, lo: char, hi: char| c.is_some_and(|c| c >= lo && c <= hi);
            if matches!(el, El::Day) {
                if a == Some('3') && ascii(b, '0', '1') {
                    push(2, 30 + i64::from(b == Some('1')));
                }
                if ascii(a, '1', '2') && b.is_some_and(is_py_digit) {
                    let tens = if a == Some('1') { 10 } else { 20 };
                    push(
                        2,
                        tens + b.and_then(super::text::decimal_value).map_or(0, i64::from),
                    );
                }
            } else if a == Some('1') && ascii(b, '0', '2') {
                push(2, 10 + b.map_or(0, |c| c as i64 - '0' as i64));
            }
            if a == Some('0') && ascii(b, '1', '9') {
                push(2, b.map_or(0, |c| c as i64 - '0' as i64));
            }
            if ascii(a, '1', '9') {
                push(1, a.map_or(0, |c| c as i64 - '0' as i64));
            }
            if matches!(el, El::Day) && a == Some(' ') && ascii(b, '1', '9') {
                push(2, b.map_or(0, |c| c as i64 - '0' as i64));
            }
        }
    }
    out
}

fn match_from(els: &[El], text: &[char], pos: usize, f: Fields) -> Option<Fields> {
    let Some((&first, rest)) = els.split_first() else {
        return (pos == text.len()).then_some(f);
    };
    for (next, g) in element_matches(first, text, pos, f) {
        if let Some(done) = match_from(rest, text, next, g) {
            return Some(done);
        }
    }
    None
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) {
                29
            } else {
                28
            }
        }
    }
}

/// `_parse_date`: the first pattern that strptime accepts and whose year is in range.
fn parse_date(text: &[char]) -> Option<NumericValue> {
    for (pattern, mask) in DATE_PATTERNS {
        let els = compile(pattern);
        let Some(f) = match_from(&els, text, 0, Fields::default()) else {
            continue;
        };
        let year = f.year.unwrap_or(1900);
        let month = f.month.unwrap_or(1);
        let day = f.day.unwrap_or(1);
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            continue;
        }
        if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
            continue;
        }
        return Some(NumericValue::Date([
            mask[0].then_some(year as f64),
            mask[1].then_some(month as f64),
            mask[2].then_some(day as f64),
        ]));
    }
    None
}

/// `_parse_number`: drop one ordinal suffix and the commas, then Python `float()`; NaN and
/// +inf are not numbers.
fn parse_number(text: &str) -> Option<f64> {
    let mut t = text;
    for suffix in ORDINAL_SUFFIXES {
        if let Some(stripped) = t.strip_suffix(suffix) {
            t = stripped;
            break;
        }
    }
    let t = t.replace(',', "");
    let v = py_float(&t)?;
    if v.is_nan() || v == f64::INFINITY {
        return None;
    }
    Some(v)
}

/// `((^|\s)[+-])?((\.\d+)|(\d+(,\d\d\d)*(\.\d*)?))` matched at `i`: the end of the match.
fn number_match_at(text: &[char], i: usize) -> Option<usize> {
    let body = |start: usize| -> Option<usize> {
        let d = |k: usize| text.get(k).is_some_and(|c| is_py_digit(*c));
        if text.get(start) == Some(&'.') && d(start + 1) {
            let mut k = start + 1;
            while d(k) {
                k += 1;
            }
            return Some(k);
        }
        if !d(start) {
            return None;
        }
        let mut k = start;
        while d(k) {
            k += 1;
        }
        while text.get(k) == Some(&',') && d(k + 1) && d(k + 2) && d(k + 3) {
            k += 4;
        }
        if text.get(k) == Some(&'.') {
            k += 1;
            while d(k) {
                k += 1;
            }
        }
        Some(k)
    };
    let sign = |k: usize| matches!(text.get(k), Some('+') | Some('-'));
    if i == 0 && sign(0) {
        if let Some(end) = body(1) {
            return Some(end);
        }
    }
    if text.get(i).is_some_and(|c| py_isspace(*c)) && sign(i + 1) {
        if let Some(end) = body(i + 2) {
            return Some(end);
        }
    }
    body(i)
}

/// `get_all_spans`: every n-gram (n <= `max_ngram`) of alphanumeric runs, by end then start.
fn all_spans(text: &[char], max_ngram: usize) -> Vec<(usize, usize)> {
    let mut starts: Vec<usize> = Vec::new();
    let mut out = Vec::new();
    for (index, &c) in text.iter().enumerate() {
        if !py_isalnum(c) {
            continue;
        }
        if index == 0 || !py_isalnum(text[index - 1]) {
            starts.push(index);
        }
        if index + 1 == text.len() || !py_isalnum(text[index + 1]) {
            let from = starts.len().saturating_sub(max_ngram);
            for &s in &starts[from..] {
                out.push((s, index + 1));
            }
        }
    }
    out
}

/// `parse_text`: numeric spans of an already normalised text, longest first without overlap,
/// then by position.
pub fn parse_text(text: &str) -> Vec<NumericSpan> {
    let chars: Vec<char> = text.chars().collect();
    let mut spans: Vec<((usize, usize), Vec<NumericValue>)> = Vec::new();
    let mut index: HashMap<(usize, usize), usize> = HashMap::new();
    fn entry<'a>(
        spans: &'a mut Vec<((usize, usize), Vec<NumericValue>)>,
        index: &mut HashMap<(usize, usize), usize>,
        key: (usize, usize),
    ) -> &'a mut Vec<NumericValue> {
        let pos = *index.entry(key).or_insert_with(|| {
            spans.push((key, Vec::new()));
            spans.len() - 1
        });
        &mut spans[pos].1
    }
    let mut i = 0usize;
    while i < chars.len() {
        match number_match_at(&chars, i) {
            Some(end) => {
                let s: String = chars[i..end].iter().collect();
                if let Some(v) = parse_number(&s) {
                    entry(&mut spans, &mut index, (i, end)).push(NumericValue::Number(v));
                }
                i = end.max(i + 1);
            }
            None => i += 1,
        }
    }
    for (b, e) in all_spans(&chars, 1) {
        if index.contains_key(&(b, e)) {
            continue;
        }
        let s: String = chars[b..e].iter().collect();
        if let Some(v) = parse_number(&s) {
            entry(&mut spans, &mut index, (b, e)).push(NumericValue::Number(v));
        }
        if let Some(n) = NUMBER_WORDS.iter().position(|w| *w == s) {
            entry(&mut spans, &mut index, (b, e)).push(NumericValue::Number(n as f64));
        }
        if let Some(n) = ORDINAL_WORDS.iter().position(|w| *w == s) {
            entry(&mut spans, &mut index, (b, e)).push(NumericValue::Number(n as f64));
        }
    }
    for (b, e) in all_spans(&chars, MAX_DATE_NGRAM) {
        if let Some(d) = parse_date(&chars[b..e]) {
            entry(&mut spans, &mut index, (b, e)).push(d);
        }
    }
    // longest first; equal lengths: earlier start first (keys are unique)
    spans.sort_by(|a, b| {
        let la = a.0 .1 - a.0 .0;
        let lb = b.0 .1 - b.0 .0;
        lb.cmp(&la).then(a.0 .0.cmp(&b.0 .0))
    });
    // a span is dropped when a selected one contains it: max end of the selected spans that
    // start at or before its start (prefix maximum over start positions, Fenwick tree)
    let mut tree = vec![0usize; chars.len() + 2];
    let mut selected: Vec<((usize, usize), Vec<NumericValue>)> = Vec::new();
    for (span, values) in spans {
        let mut k = span.0 + 1;
        let mut reach = 0usize;
        while k > 0 {
            reach = reach.max(tree[k]);
            k &= k - 1;
        }
        if reach >= span.1 {
            continue;
        }
        let mut k = span.0 + 1;
        while k < tree.len() {
            tree[k] = tree[k].max(span.1);
            k += k & k.wrapping_neg();
        }
        selected.push((span, values));
    }
    selected.sort_by_key(|(s, _)| s.0);
    selected
        .into_iter()
        .map(|((begin, end), values)| NumericSpan { begin, end, values })
        .collect()
}

/// All values of a cell text (after `normalize_for_match`), in span order.
fn cell_values(text: &str) -> Vec<NumericValue> {
    parse_text(&normalize_for_match(text))
        .into_iter()
        .flat_map(|s| s.values)
        .collect()
}

/// `_consolidate_numeric_values` over one column: the value each row keeps (most common
/// type in at least `min_fraction` of the rows; dates win ties).
pub fn consolidate_column(cells: &[&str], min_fraction: f64) -> Vec<Option<NumericValue>> {
    let per_row: Vec<Vec<NumericValue>> = cells.iter().map(|c| cell_values(c)).collect();
    let mut numbers = 0usize;
    let mut dates = 0usize;
    for values in &per_row {
        if values.iter().any(|v| !v.is_date()) {
            numbers += 1;
        }
        if values.iter().any(NumericValue::is_date) {
            dates += 1;
        }
    }
    let none = vec![None; cells.len()];
    if numbers == 0 && dates == 0 {
        return none;
    }
    let max_count = numbers.max(dates);
    if (max_count as f64) < (per_row.len() as f64) * min_fraction {
        return none;
    }
    let want_date = dates == max_count;
    per_row
        .into_iter()
        .map(|values| values.into_iter().find(|v| v.is_date() == want_date))
        .collect()
}

/// A sort key: the number, or the date fields every value has.
pub type SortKey = Vec<f64>;

/// `get_numeric_sort_key_fn`: `None` where the values mix types or dates share no field.
pub fn sort_key_fn<'a>(
    values: impl Iterator<Item = &'a NumericValue> + Clone,
) -> Option<impl Fn(&NumericValue) -> SortKey> {
    let mut any_number = false;
    let mut any_date = false;
    let mut valid = [true; 3];
    for v in values {
        match v {
            NumericValue::Number(_) => any_number = true,
            NumericValue::Date(d) => {
                any_date = true;
                for (k, field) in d.iter().enumerate() {
                    if field.is_none() {
                        valid[k] = false;
                    }
                }
            }
        }
    }
    if any_number == any_date {
        return None;
    }
    if any_date && !valid.iter().any(|x| *x) {
        return None;
    }
    Some(move |v: &NumericValue| match v {
        NumericValue::Number(x) => vec![*x],
        NumericValue::Date(d) => (0..3)
            .filter(|k| valid[*k])
            .map(|k| d[k].unwrap_or(f64::NAN))
            .collect(),
    })
}

/// `get_numeric_relation` bit: EQ 1, LT 2, GT 4 (question value against cell value).
pub fn relation_bit(question: &SortKey, cell: &SortKey) -> u32 {
    match question.partial_cmp(cell) {
        Some(std::cmp::Ordering::Equal) => 1,
        Some(std::cmp::Ordering::Less) => 2,
        Some(std::cmp::Ordering::Greater) => 4,
        None => 0,
    }
}

/// The question's numeric spans (`add_numeric_values_to_question`).
pub fn question_values(question: &str) -> Vec<NumericValue> {
    parse_text(&normalize_for_match(question))
        .into_iter()
        .flat_map(|s| s.values)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<(usize, usize, Vec<NumericValue>)> {
        parse_text(text)
            .into_iter()
            .map(|s| (s.begin, s.end, s.values))
            .collect()
    }

    #[test]
    fn numbers() {
        assert_eq!(
            values("1,234.5 and -3"),
            vec![
                (0, 7, vec![NumericValue::Number(1234.5)]),
                (11, 14, vec![NumericValue::Number(-3.0)])
            ]
        );
        assert_eq!(values("5th"), vec![(0, 3, vec![NumericValue::Number(5.0)])]);
        assert_eq!(
            values("three"),
            vec![(0, 5, vec![NumericValue::Number(3.0)])]
        );
    }

    #[test]
    fn dates() {
        assert_eq!(
            values("march 2010"),
            vec![(
                0,
                10,
                vec![NumericValue::Date([Some(2010.0), Some(3.0), None])]
            )]
        );
        assert_eq!(
            values("2000"),
            vec![(
                0,
                4,
                vec![
                    NumericValue::Number(2000.0),
                    NumericValue::Date([Some(2000.0), None, None])
                ]
            )]
        );
        assert_eq!(
            values("february 30"),
            vec![
                (0, 8, vec![NumericValue::Date([None, Some(2.0), None])]),
                (9, 11, vec![NumericValue::Number(30.0)])
            ]
        );
    }
}
