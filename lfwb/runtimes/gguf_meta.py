"""Read a GGUF file's metadata header without loading the model.

Enough to check a file before loading it (magic, architecture) and to estimate its memory
(layers, embedding width, heads, trained context) — the tensors themselves are never read.
"""

from __future__ import annotations

import struct
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import ModelLoadError

GGUF_MAGIC = b"GGUF"
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_MAX_ARRAY_KEEP = 64  # long arrays (the vocabulary) are skipped, not kept


def _read(f: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize(fmt)
    data = f.read(size)
    if len(data) != size:
        raise EOFError
    return struct.unpack(fmt, data)[0]


def _read_string(f: BinaryIO) -> str:
    n = _read(f, "<Q")
    if n > 1 << 30:
        raise ValueError("string length out of range")
    return f.read(n).decode("utf-8", errors="replace")


def _read_value(f: BinaryIO, vtype: int) -> Any:
    if vtype in _SCALARS:
        return _read(f, _SCALARS[vtype])
    if vtype == _STRING:
        return _read_string(f)
    if vtype == _ARRAY:
        itype, n = _read(f, "<I"), _read(f, "<Q")
        if itype in _SCALARS and n > _MAX_ARRAY_KEEP:
            f.seek(struct.calcsize(_SCALARS[itype]) * n, 1)
            return f"<array of {n}>"
        items = [_read_value(f, itype) for _ in range(n)]
        return items if n <= _MAX_ARRAY_KEEP else f"<array of {n}>"
    raise ValueError(f"unknown GGUF value type {vtype}")


def _damaged(path: Path, e: Exception) -> ModelLoadError:
    # EOFError and some struct errors carry no message; say what they mean.
    why = "the file ends early: an interrupted download or copy" if isinstance(e, EOFError) else str(e)
    return ModelLoadError(f"{path} is a damaged GGUF file ({why or type(e).__name__}) — re-download it")


def read_gguf_metadata(path: str | Path) -> dict[str, Any]:
    """The key/value metadata of a GGUF file, e.g. `general.architecture` (do not change it:
    it is shared).

    Raises ModelLoadError with one line when the file is not a readable GGUF. Read once per
    version of a file: registering a model checks it and loading sizes it from the same keys,
    and walking SmolLM2's vocabulary takes ~0.13 s here.
    """
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        return _read_metadata(path)  # says what is wrong in one line
    # Keyed by where the file really is and its version; messages keep the path as given.
    return _read_cached(path, str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=32)
def _read_cached(path: Path, _resolved: str, _size: int, _mtime_ns: int) -> dict[str, Any]:
    return _read_metadata(path)


def _read_metadata(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            if f.read(4) != GGUF_MAGIC:
                raise ModelLoadError(
                    f"{path} is not a GGUF file (it does not start with 'GGUF') — "
                    "check the path, or re-download / re-convert the model"
                )
            version = _read(f, "<I")
            _n_tensors, n_kv = _read(f, "<Q"), _read(f, "<Q")
            if version < 2 or n_kv > 100_000:
                raise ValueError(f"unsupported GGUF header (version {version})")
            meta: dict[str, Any] = {"GGUF.version": version}
            for _ in range(n_kv):
                key = _read_string(f)
                meta[key] = _read_value(f, _read(f, "<I"))
            return meta
    except ModelLoadError:
        raise
    except FileNotFoundError:
        raise ModelLoadError(f"no model file at {path} — check the path") from None
    except (EOFError, ValueError, struct.error, OSError) as e:
        raise _damaged(path, e) from None


def kv_cache_bytes(meta: dict[str, Any], n_ctx: int, bytes_per_value: int = 2) -> int:
    """Size of the f16 KV cache for `n_ctx` tokens, from the architecture's shape."""
    arch = meta.get("general.architecture", "llama")
    n_layer = int(meta.get(f"{arch}.block_count", 0) or 0)
    n_embd = int(meta.get(f"{arch}.embedding_length", 0) or 0)
    n_head = int(meta.get(f"{arch}.attention.head_count", 1) or 1)
    n_head_kv = meta.get(f"{arch}.attention.head_count_kv", n_head) or n_head
    if isinstance(n_head_kv, list):
        n_head_kv = max(n_head_kv)
    head_dim = int(meta.get(f"{arch}.attention.key_length", n_embd // max(n_head, 1)) or 0)
    return 2 * n_layer * n_ctx * int(n_head_kv) * head_dim * bytes_per_value


def gguf_parameter_count(path: str | Path) -> int:
    """How many weights the file holds (its tensors' elements), read from the tensor index."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            if f.read(4) != GGUF_MAGIC:
                raise ModelLoadError(f"{path} is not a GGUF file (it does not start with 'GGUF') — check the path")
            _read(f, "<I")
            n_tensors, n_kv = _read(f, "<Q"), _read(f, "<Q")
            for _ in range(n_kv):
                _read_string(f)
                _read_value(f, _read(f, "<I"))
            total = 0
            for _ in range(n_tensors):
                _read_string(f)
                count = 1
                for _ in range(_read(f, "<I")):
                    count *= _read(f, "<Q")
                _read(f, "<I"), _read(f, "<Q")  # ggml type, data offset
                total += count
            return total
    except ModelLoadError:
        raise
    except (EOFError, ValueError, struct.error, OSError) as e:
        raise _damaged(path, e) from None
