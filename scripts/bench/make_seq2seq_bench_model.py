"""Build the encoder-decoder models of `npm run bench:seq2seq` (never committed).

Run with the dev venv:
    .venv/bin/python scripts/bench/make_seq2seq_bench_model.py [--out DIR] [--only bart-tiny|bart-base-random]

Writes under DIR (default ~/.cache/hf-tasks/bench/seq2seq, or $HF_TASKS_BENCH_MODELS), one folder
per model, each with encoder_model.onnx + decoder_model_merged.onnx (the layout every compared
implementation reads; transformers.js reads only the merged decoder):

- bart-tiny: the test/fixtures/models/bart-tiny fixture's own graphs, its decoder_model.onnx and
  decoder_with_past_model.onnx merged into one decoder_model_merged.onnx by optimum's
  `merge_decoders`, and its tokenizer and config files.
- bart-base-random: BART at bart-base size (d_model 768, 6+6 layers, 12 heads, FFN 3072, 1024
  positions, vocabulary 50265, about 140 M parameters) with random weights from a fixed seed,
  exported with optimum's `main_export(task="text2text-generation-with-past")`; about 0.9 GB.
  Tokenizer: bart-tiny's byte-level BPE with its vocabulary padded to 50265 ids by filler tokens
  that no merge produces (`fill641` ...), so that the network has bart-base's embedding and
  output projection sizes and every id it picks decodes. Prompts therefore tokenize with
  bart-tiny's small vocabulary (more, shorter tokens than bart-base's tokenizer would give).

Both get a plain generation_config.json (token ids only: no no-repeat n-grams, length penalty or
forced tokens), so that every implementation runs the same decoding work; the benchmark passes
the number of beams and the lengths per call.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "test" / "fixtures" / "models" / "bart-tiny"
TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]
VOCAB = 50265
SEED = 1234


def default_out() -> Path:
    env = os.environ.get("HF_TASKS_BENCH_MODELS")
    return Path(env) if env else Path.home() / ".cache" / "hf-tasks" / "bench" / "seq2seq"


def plain_generation_config(dst: Path, config: dict) -> None:
    gen = {
        "bos_token_id": config["bos_token_id"],
        "decoder_start_token_id": config["decoder_start_token_id"],
        "eos_token_id": config["eos_token_id"],
        "pad_token_id": config["pad_token_id"],
    }
    (dst / "generation_config.json").write_text(json.dumps(gen, indent=2) + "\n", encoding="utf-8")


def strip_config(dst: Path) -> dict:
    """config.json without the generation settings BART configs carry (forced EOS etc.)."""
    path = dst / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    for k in ["forced_eos_token_id", "forced_bos_token_id", "no_repeat_ngram_size", "num_beams", "length_penalty"]:
        config.pop(k, None)
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return config


def bart_tiny(out: Path) -> None:
    from optimum.onnx import merge_decoders

    dst = out / "bart-tiny"
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    for f in ["config.json", "encoder_model.onnx", *TOKENIZER_FILES]:
        shutil.copyfile(FIXTURE / f, dst / f)
    merge_decoders(
        FIXTURE / "decoder_model.onnx",
        FIXTURE / "decoder_with_past_model.onnx",
        save_path=dst / "decoder_model_merged.onnx",
        strict=False,
    )
    plain_generation_config(dst, strip_config(dst))
    print(f"bart-tiny: {sorted(p.name for p in dst.iterdir())}")


def padded_tokenizer(dst: Path) -> None:
    """bart-tiny's tokenizer.json with filler vocabulary entries up to VOCAB ids."""
    tok = json.loads((FIXTURE / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = tok["model"]["vocab"]
    used = set(vocab.values()) | {a["id"] for a in tok["added_tokens"]}
    for i in range(VOCAB):
        if i not in used:
            name = f"fill{i}"
            assert name not in vocab, name
            vocab[name] = i
    (dst / "tokenizer.json").write_text(json.dumps(tok, ensure_ascii=False), encoding="utf-8")
    for f in TOKENIZER_FILES[1:]:
        shutil.copyfile(FIXTURE / f, dst / f)
    # bart-base's input limit: bart-tiny's (62) would make pipelines that truncate to the
    # tokenizer's model_max_length (transformers.js) read fewer input tokens than the others.
    cfg = json.loads((dst / "tokenizer_config.json").read_text(encoding="utf-8"))
    cfg["model_max_length"] = 1024
    (dst / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")


def bart_base_random(out: Path) -> None:
    import torch
    from optimum.exporters.onnx import main_export
    from transformers import AutoTokenizer, BartConfig, BartForConditionalGeneration

    dst = out / "bart-base-random"
    if dst.exists():
        shutil.rmtree(dst)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "torch"
        src.mkdir()
        padded_tokenizer(src)
        tok = AutoTokenizer.from_pretrained(src)
        assert len(tok) == VOCAB, len(tok)
        config = BartConfig(
            vocab_size=VOCAB,
            d_model=768,
            encoder_layers=6,
            decoder_layers=6,
            encoder_attention_heads=12,
            decoder_attention_heads=12,
            encoder_ffn_dim=3072,
            decoder_ffn_dim=3072,
            max_position_embeddings=1024,
            bos_token_id=0,
            pad_token_id=1,
            eos_token_id=2,
            decoder_start_token_id=2,
            forced_eos_token_id=None,
        )
        torch.manual_seed(SEED)
        model = BartForConditionalGeneration(config).eval()
        print(f"bart-base-random: {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters")
        model.save_pretrained(src)
        main_export(
            str(src),
            Path(tmp) / "onnx",
            task="text2text-generation-with-past",
            library_name="transformers",
            do_validation=False,
        )
        dst.mkdir(parents=True)
        onnx = Path(tmp) / "onnx"
        assert not any(f.name.endswith("_data") or f.name.endswith(".data") for f in onnx.iterdir())
        for f in ["encoder_model.onnx", "decoder_model_merged.onnx", "config.json"]:
            shutil.move(str(onnx / f), dst / f)
        for f in TOKENIZER_FILES:
            shutil.copyfile(src / f, dst / f)
    plain_generation_config(dst, strip_config(dst))
    size = sum(f.stat().st_size for f in dst.iterdir())
    print(f"bart-base-random: {sorted(p.name for p in dst.iterdir())} {size / 2**20:.0f} MiB")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=default_out())
    ap.add_argument("--only", choices=["bart-tiny", "bart-base-random"])
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.only in (None, "bart-tiny"):
        bart_tiny(args.out)
    if args.only in (None, "bart-base-random"):
        bart_base_random(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
