"""Model runtimes: the `RuntimeManager` and one module per backend.

Backends are found through the `lfwb.runtimes` entry-point group and imported only when a
model of theirs is registered, so `import lfwb` never pulls in torch or llama_cpp.
"""

from .base import Chunk, GenerationConfig, ModelConfig, Runtime
from .manager import RuntimeManager
from .memory import format_bytes
from .registry import DEFAULT_MODEL, default_model_path
from .settings import RuntimeSettings
from .totals import GenerationResult, StreamTotals

__all__ = [
    "Chunk",
    "DEFAULT_MODEL",
    "GenerationConfig",
    "GenerationResult",
    "ModelConfig",
    "Runtime",
    "RuntimeManager",
    "RuntimeSettings",
    "StreamTotals",
    "default_model_path",
    "format_bytes",
]
