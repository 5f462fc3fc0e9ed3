"""Where a transformers model runs and in which dtype: the settings checked at registration,
then the choice made (and why) once PyTorch is imported.

    >>> check_placement("auto", "bf16", "none")
    ('auto', 'bfloat16', 'none')
    >>> choose_device("auto")                   # imports torch
    ('cpu', 'no Apple GPU (MPS) or CUDA GPU found')
"""

from __future__ import annotations

import os
import sys

from ..errors import BadInput
from .transformers_weights import DTYPES

_DTYPE_ALIASES = {
    "fp32": "float32",
    "f32": "float32",
    "float": "float32",
    "fp16": "float16",
    "f16": "float16",
    "half": "float16",
    "bf16": "bfloat16",
}
QUANTIZATIONS = ("none", "int8")
DEVICES = ("auto", "cpu", "cuda", "mps")


def import_torch():
    """torch, imported on first use (never when lfwb is imported)."""
    # Read once, when torch starts: ops the Apple GPU lacks then run on the CPU instead of failing.
    if "torch" not in sys.modules:
        os.environ.setdefault("PYTORCH_ENABLE_MPS_FALLBACK", "1")
    import torch

    return torch


def check_placement(device: str | None, dtype: str | None, quantization: str | None) -> tuple[str, str, str]:
    """The registration's (device, dtype, quantization), normalised; a bad one is one line."""
    device_ = str(device or "auto").lower()
    if device_ not in DEVICES and not device_.startswith("cuda:"):
        raise BadInput(f"unknown device {device!r} — use auto, cpu, cuda (or cuda:N) or mps")
    dtype_ = str(dtype or "auto").lower()
    dtype_ = _DTYPE_ALIASES.get(dtype_, dtype_)
    if dtype_ != "auto" and dtype_ not in DTYPES:
        raise BadInput(f"unknown dtype {dtype!r} — use auto, float32, float16 or bfloat16")
    quantization_ = str(quantization or "none").lower()
    if quantization_ not in QUANTIZATIONS:
        raise BadInput(
            f"unknown quantization {quantization!r} for the transformers runtime — use none or "
            "int8 (for 4-bit, run a GGUF on the llama_cpp runtime)"
        )
    if quantization_ == "int8" and device_ not in ("auto", "cpu"):
        raise BadInput(
            f"int8 is PyTorch dynamic quantisation, which runs on CPU only, not on {device_} — "
            "use device cpu (or auto), or quantization none"
        )
    if quantization_ == "int8" and dtype_ not in ("auto", "float32"):
        raise BadInput(f"int8 quantises float32 weights, not {dtype_} — use dtype auto or float32")
    return device_, dtype_, quantization_


def choose_device(requested: str, quantization: str = "none") -> tuple[str, str]:
    """Where to run, and why: MPS, else CUDA, else CPU for `auto`; an explicit device is checked."""
    torch = import_torch()

    if requested == "cpu":
        return "cpu", "asked for"
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise BadInput(
                "device cuda was asked for but PyTorch sees no CUDA GPU (this torch may be the "
                "CPU build) — use device auto or cpu"
            )
        return requested, "asked for"
    if requested == "mps":
        if not torch.backends.mps.is_available():
            raise BadInput("device mps was asked for but this machine has no Apple GPU (MPS) — use device auto or cpu")
        return "mps", "asked for"
    if quantization == "int8":
        return "cpu", "int8 is PyTorch dynamic quantisation, which runs on CPU only"
    if torch.backends.mps.is_available():
        return "mps", "Apple GPU (MPS) available; ops it lacks fall back to CPU"
    if torch.cuda.is_available():
        return "cuda", f"CUDA GPU available ({torch.cuda.get_device_name(0)})"
    return "cpu", "no Apple GPU (MPS) or CUDA GPU found"


def choose_dtype(device: str, requested: str) -> tuple[str, str]:
    """The weights' dtype on `device`, and why (`requested` is already normalised)."""
    if requested != "auto":
        return requested, "asked for"
    if device.startswith("cuda"):
        import torch

        if torch.cuda.is_bf16_supported():
            return "bfloat16", "CUDA GPU with bfloat16 support"
        return "float16", "CUDA GPU without bfloat16 support"
    if device == "mps":
        return "float16", "half precision on the Apple GPU"
    return "float32", "CPU: half precision is slow there; ask for dtype bfloat16 to halve memory"


def free_device_cache(device: str) -> None:
    """Give the GPU's cached blocks back after a model is dropped (nothing to do on the CPU)."""
    if "torch" not in sys.modules:
        return
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif device == "mps" and torch.backends.mps.is_available():
        torch.mps.empty_cache()
