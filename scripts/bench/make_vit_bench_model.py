"""Build the ViT-base-size random-weight image classifier of bench/vision.js (never committed).

Writes DIR (default ~/.cache/hf-tasks/bench/vision/vit-base, or $HF_TASKS_BENCH_MODELS/vit-base):
ViTForImageClassification with the google/vit-base-patch16-224 shape (hidden 768, 12 layers, 12
heads, 224x224, patch 16, 1000 labels), random weights from a fixed seed, exported to ONNX fp32
with optimum as a user would, plus its preprocessor_config.json; `onnx/model.onnx` is a hard link
to `model.onnx` so that transformers.js loads the same file.

    .venv/bin/python scripts/bench/make_vit_bench_model.py [DIR]
"""

import os
import sys
import tempfile
from pathlib import Path

import torch
from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor


def main() -> None:
    env = os.environ.get("HF_TASKS_BENCH_MODELS")
    base = Path(env) if env else Path.home() / ".cache" / "hf-tasks" / "bench" / "vision"
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else base / "vit-base"
    from optimum.exporters.onnx import main_export

    torch.manual_seed(7)
    cfg = ViTConfig(num_labels=1000, id2label={i: f"class_{i}" for i in range(1000)})
    model = ViTForImageClassification(cfg).eval()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "torch"
        model.save_pretrained(src)
        ViTImageProcessor().save_pretrained(src)
        main_export(str(src), out, task="image-classification", opset=17, library_name="transformers", do_validation=False)
    (out / "onnx").mkdir(exist_ok=True)
    link = out / "onnx" / "model.onnx"
    if link.exists():
        link.unlink()
    os.link(out / "model.onnx", link)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
