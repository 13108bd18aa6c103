"""Build the BERT-base-size random-weight encoder of the benchmark's `bert-base-random` target
(never committed).

Writes DIR (default ~/.cache/hf-tasks/bench/bert-base, or $HF_TASKS_BENCH_MODELS/bert-base): a
BertModel with bert-base-uncased's shape (hidden 768, 12 layers, 12 heads, feed-forward 3072,
vocabulary 30522), random weights from a fixed seed, exported to ONNX fp32 with optimum's
feature-extraction exporter as a user would (`model.onnx`, with `onnx/model.onnx` a hard link for
transformers.js), and the uncased WordPiece tokenizer files of sentence-transformers/all-MiniLM-L6-v2
(the same vocabulary) from the Hugging Face cache, where `npm start` provisions them.

    .venv/bin/python scripts/bench/make_bert_base_bench_model.py [DIR]

Where optimum is not installed (the GPU machine has only torch and transformers), or with
HF_TASKS_EXPORT=torch, the model is exported with `torch.onnx.export` instead (same inputs and
output names, opset 17); HF_TASKS_TOKENIZER_DIR names a folder holding the tokenizer files when
the Hugging Face cache does not have them.
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

import torch
from transformers import BertConfig, BertModel

TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"]


def tokenizer_dir() -> Path:
    given = os.environ.get("HF_TASKS_TOKENIZER_DIR")
    if given:
        return Path(given)
    hub = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME", str(Path.home() / ".cache" / "huggingface")), "hub"
    )
    repo = Path(hub) / "models--sentence-transformers--all-MiniLM-L6-v2"
    ref = repo / "refs" / "main"
    if not ref.exists():
        sys.exit(f"{repo} is missing: run `npm run models:fetch` (or `npm start`) first")
    return repo / "snapshots" / ref.read_text().strip()


def has_optimum() -> bool:
    try:
        import optimum.exporters.onnx  # noqa: F401
    except ImportError:
        return False
    return True


def export_with_torch(model: BertModel, tok: Path, out: Path) -> None:
    """The encoder through torch.onnx.export, with the inputs and output optimum would name."""
    out.mkdir(parents=True, exist_ok=True)
    model.config.return_dict = False
    names = ["input_ids", "attention_mask", "token_type_ids"]
    ids = torch.ones(2, 16, dtype=torch.long)
    axes = {n: {0: "batch_size", 1: "sequence_length"} for n in [*names, "last_hidden_state"]}
    with torch.no_grad():
        torch.onnx.export(
            model,
            (ids, torch.ones_like(ids), torch.zeros_like(ids)),
            str(out / "model.onnx"),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    model.config.return_dict = True
    model.config.save_pretrained(out)
    for name in TOKENIZER_FILES:
        shutil.copy(tok / name, out / name)


def main() -> None:
    env = os.environ.get("HF_TASKS_BENCH_MODELS")
    base = Path(env) if env else Path.home() / ".cache" / "hf-tasks" / "bench"
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else base / "bert-base"
    torch.manual_seed(11)
    cfg = BertConfig(
        vocab_size=30522,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        max_position_embeddings=512,
    )
    model = BertModel(cfg, add_pooling_layer=False).eval()
    tok = tokenizer_dir()
    if os.environ.get("HF_TASKS_EXPORT") == "torch" or not has_optimum():
        export_with_torch(model, tok, out)
    else:
        from optimum.exporters.onnx import main_export

        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "torch"
            model.save_pretrained(src)
            for name in TOKENIZER_FILES:
                shutil.copy(tok / name, src / name)
            main_export(str(src), out, task="feature-extraction", opset=17, library_name="transformers", do_validation=False)
    (out / "onnx").mkdir(exist_ok=True)
    link = out / "onnx" / "model.onnx"
    if link.exists():
        link.unlink()
    os.link(out / "model.onnx", link)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
