"""Writes crates/core/src/tapas/ucd.rs: the Unicode general category of every code point, as the
reference's Python (3.11, Unicode 14.0.0) `unicodedata.category` gives it.

TAPAS's tokenizer is transformers' slow, pure-Python tokenizer: its cleaning, punctuation,
whitespace, accent stripping and number parsing read Python's own Unicode database, so the Rust
port reads the same categories from this table instead of a crate tied to another Unicode version.

Run: python3.11 scripts/unicode/make_tables.py (check `unicodedata.unidata_version`).
"""

from __future__ import annotations

import sys
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "crates" / "core" / "src" / "tapas" / "ucd.rs"
CATEGORIES = [
    "Cc", "Cf", "Cn", "Co", "Cs",
    "Ll", "Lm", "Lo", "Lt", "Lu",
    "Mc", "Me", "Mn",
    "Nd", "Nl", "No",
    "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps",
    "Sc", "Sk", "Sm", "So",
    "Zl", "Zp", "Zs",
]


def main() -> int:
    if unicodedata.unidata_version != "14.0.0":
        print(f"expected Unicode 14.0.0 (Python 3.11), got {unicodedata.unidata_version}", file=sys.stderr)
        return 1
    runs: list[tuple[int, int]] = []
    last = None
    for cp in range(0x110000):
        cat = CATEGORIES.index(unicodedata.category(chr(cp)))
        if cat != last:
            runs.append((cp, cat))
            last = cat
    lines = [
        "//! The Unicode general category of every code point as Python 3.11's `unicodedata`",
        "//! (Unicode 14.0.0) gives it. Written by scripts/unicode/make_tables.py; do not edit.",
        "",
        "/// Category names, indexed by the codes in `RUNS`.",
        "pub(crate) const CATEGORIES: [&str; %d] = [%s];" % (len(CATEGORIES), ", ".join(f'"{c}"' for c in CATEGORIES)),
        "",
        "/// `(first code point, category code)` of each run of one category, in code point order.",
        "#[rustfmt::skip]",
        "pub(crate) static RUNS: [(u32, u8); %d] = [" % len(runs),
    ]
    row = []
    for start, cat in runs:
        row.append(f"(0x{start:X}, {cat})")
        if len(row) == 8:
            lines.append("    " + ", ".join(row) + ",")
            row = []
    if row:
        lines.append("    " + ", ".join(row) + ",")
    lines.append("];")
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(runs)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
