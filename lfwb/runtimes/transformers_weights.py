"""Weights of a transformers model: how many a checkpoint holds, their bytes, int8.

>>> parameter_count(Path("./my-checkpoint"), config)    # from safetensors headers, nothing loaded
>>> quantize_int8(model)                                 # bytes before and after, in place
"""

from __future__ import annotations

import json
import struct
import warnings
from pathlib import Path

DTYPES = {"float32": 4, "float16": 2, "bfloat16": 2}  # bytes per weight


# -- int8 ------------------------------------------------------------------------------


def quantize_int8(model) -> dict:
    """Dynamic int8 quantisation of every nn.Linear, in place; bytes before and after."""
    import torch
    from torch import nn

    before_model = module_bytes(model)
    before_linear = sum(module_bytes(m) for m in model.modules() if isinstance(m, nn.Linear))
    with warnings.catch_warnings():  # torch.ao.quantization is deprecated, still the CPU path
        warnings.simplefilter("ignore")
        from torch.ao.quantization import quantize_dynamic

        quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8, inplace=True)
    after_linear = sum(module_bytes(m) for m in model.modules() if _is_int8_linear(m))
    return {
        "linear_bytes_before": before_linear,
        "linear_bytes_after": after_linear,
        "model_bytes_before": before_model,
        "model_bytes_after": module_bytes(model),
    }


def _is_int8_linear(module) -> bool:
    from torch.ao.nn.quantized.dynamic import Linear as DynamicQuantizedLinear

    return isinstance(module, DynamicQuantizedLinear)


def module_bytes(module) -> int:
    """Bytes of a module's weights, counting tied tensors once and int8 packed weights too."""
    seen: set[int] = set()
    total = 0
    tensors = list(module.parameters()) + list(module.buffers())
    for m in module.modules():
        if _is_int8_linear(m):
            tensors += [t for t in (m.weight(), m.bias()) if t is not None]
    for t in tensors:
        if id(t) not in seen:
            seen.add(id(t))
            total += t.numel() * t.element_size()
    return total


# -- checkpoint size -------------------------------------------------------------------


def parameter_count(folder: Path, hf_config: dict) -> int:
    """Parameters in a checkpoint directory, from safetensors headers (exact) or file sizes."""
    total = 0
    for f in sorted(folder.glob("*.safetensors")):
        with f.open("rb") as fh:
            (length,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(length))
        for name, entry in header.items():
            if name != "__metadata__":
                count = 1
                for d in entry["shape"]:
                    count *= d
                total += count
    if total:
        return total
    stored = str(hf_config.get("dtype") or hf_config.get("torch_dtype") or "float32")
    width = DTYPES.get(stored, 4)
    return sum(f.stat().st_size for f in folder.glob("*.bin")) // width
