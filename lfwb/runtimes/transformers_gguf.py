"""GGUF files for the transformers runtime: convert once, keep the checkpoint on disk.

transformers reads a GGUF by de-quantising every tensor and rebuilding the tokenizer from the
file's vocabulary, which takes from seconds to minutes. `converted_checkpoint` does that once
per file and saves an ordinary `save_pretrained` directory under the cache, named by the
file's SHA-256, so later loads (in any kernel) are a plain `from_pretrained(dir)`.

    >>> converted_checkpoint("SmolLM2-135M-Instruct.Q4_1.gguf")
    PosixPath('/home/me/.cache/lfwb/gguf/3f1c…')
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import ModelLoadError
from .base import Progress
from .gguf_meta import read_gguf_metadata

MARKER = "lfwb-gguf.json"  # written last: a directory without it is an unfinished conversion
_convert_lock = threading.Lock()  # one conversion at a time (it patches a progress hook)
_hashes: dict[tuple[str, int, int], str] = {}


def cache_root() -> Path:
    """`$LFWB_CACHE/gguf`, else `~/.cache/lfwb/gguf` (or under `$XDG_CACHE_HOME`)."""
    base = os.environ.get("LFWB_CACHE")
    if base:
        return Path(base).expanduser() / "gguf"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "lfwb" / "gguf"


def file_sha256(path: str | Path) -> str:
    """The file's SHA-256, remembered per (path, size, mtime) for the life of the process."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _hashes:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while block := f.read(8 << 20):
                digest.update(block)
        _hashes[key] = digest.hexdigest()
    return _hashes[key]


def cached_checkpoint(path: str | Path) -> Path | None:
    """The finished conversion of this GGUF file, if there is one."""
    folder = cache_root() / file_sha256(path)[:32]
    return folder if (folder / MARKER).is_file() else None


def supported_architectures() -> set[str]:
    """GGUF `general.architecture` values this transformers can load (no torch import)."""
    from transformers.integrations.ggml import GGUF_CONFIG_MAPPING

    return set(GGUF_CONFIG_MAPPING) - {"general", "tokenizer"}


def check_architecture(path: str | Path) -> str:
    """The file's architecture; one line of error when transformers cannot read it."""
    arch = str(read_gguf_metadata(path).get("general.architecture", "?"))
    supported = supported_architectures()
    # transformers' own spellings of a few llama.cpp names (qwen2moe → qwen2_moe, gpt-oss → gpt_oss).
    spellings = {arch, arch.replace("-", "_"), arch.replace("moe", "_moe")}
    if not spellings & supported:
        raise ModelLoadError(
            f"{Path(path).name} is a GGUF of architecture {arch!r}, which transformers cannot load "
            f"(it reads {', '.join(sorted(supported))}) — run it on the llama_cpp runtime instead"
        )
    return arch


def converted_checkpoint(path: str | Path, progress: Progress | None = None) -> Path:
    """A `from_pretrained` directory holding this GGUF's model and tokenizer, converting on a miss."""
    path = Path(path)
    report = progress or (lambda fraction, what: None)
    report(0.0, f"hashing {path.name}")
    folder = cache_root() / file_sha256(path)[:32]
    if (folder / MARKER).is_file():
        return folder
    with _convert_lock:
        if (folder / MARKER).is_file():  # another thread converted it while we waited
            return folder
        folder.parent.mkdir(parents=True, exist_ok=True)
        partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}-{threading.get_ident()}")
        shutil.rmtree(partial, ignore_errors=True)
        try:
            _convert(path, partial, report)
            try:
                partial.rename(folder)
            except OSError:  # another process finished first: keep theirs
                if not (folder / MARKER).is_file():
                    raise
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    return folder


def _convert(path: Path, into: Path, report: Progress) -> None:
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.perf_counter()
    check_architecture(path)
    with quiet_transformers():
        report(0.02, f"converting the tokenizer of {path.name} (first load of this file only)")
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        report(0.2, f"de-quantising the weights of {path.name}")
        with _tensor_progress(
            lambda done, total: report(
                0.2 + 0.6 * done / max(total, 1), f"de-quantising {path.name}: tensor {done}/{total}"
            )
        ):
            model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name)
        report(0.85, f"writing the converted checkpoint to {into.parent}")
        # The weights are plain tensors now; the GGUF "quantizer" only blocks save_pretrained.
        model.hf_quantizer = None  # type: ignore[assignment]  # undeclared: typed by nn.Module's __getattr__
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(into)
        tokenizer.save_pretrained(into)
    (into / MARKER).write_text(
        json.dumps(
            {
                "source": str(path.resolve()),
                "sha256": file_sha256(path),
                "size": path.stat().st_size,
                "transformers": transformers.__version__,
                "seconds": round(time.perf_counter() - start, 1),
            },
            indent=2,
        )
    )
    report(0.95, "converted")


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """No tqdm bars or warnings from transformers while lfwb reports progress itself."""
    from transformers.utils import logging

    bars, verbosity = logging.is_progress_bar_enabled(), logging.get_verbosity()
    logging.disable_progress_bar()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()


@contextmanager
def _tensor_progress(on_step) -> Iterator[None]:
    """Report the legacy GGUF loader's per-tensor loop (a bare tqdm) as lfwb progress."""
    from transformers import modeling_gguf_pytorch_utils as loader

    original = getattr(loader, "tqdm", None)
    if original is None:  # another transformers layout: stage messages only
        yield
        return

    def counting(items: Iterable, *args, **kwargs):
        items = list(items)
        every = max(1, len(items) // 20)
        for i, item in enumerate(items):
            if i % every == 0:
                on_step(i, len(items))
            yield item
        on_step(len(items), len(items))

    loader.tqdm = counting
    try:
        yield
    finally:
        loader.tqdm = original
