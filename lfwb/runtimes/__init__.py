"""Model runtimes: the `RuntimeManager` and one module per backend.

Backends are found through the `lfwb.runtimes` entry-point group and imported only when a
model of theirs is registered, so `import lfwb` never pulls in torch or llama_cpp.
"""

from .base import Chunk, GenerationConfig, ModelConfig, Runtime
from .manager import DEFAULT_MODEL, GenerationResult, RuntimeManager, default_model_path

__all__ = [
    "Chunk", "DEFAULT_MODEL", "GenerationConfig", "GenerationResult", "ModelConfig", "Runtime",
    "RuntimeManager", "default_model_path",
]
