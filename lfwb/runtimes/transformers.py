"""Hugging Face checkpoints (and GGUF files) through transformers + PyTorch.

    %lfw register tiny --runtime transformers --source ./my-checkpoint
    %lfw register smol-hf --runtime transformers --source SmolLM2-135M-Instruct.Q4_1.gguf --quantization int8

`source` is a `save_pretrained` directory, a `.gguf` file, or a directory plus
`options["gguf_file"]`. A GGUF is converted once and cached (see `transformers_gguf`).
torch and transformers are imported on first use, never when lfwb is imported.
"""

from __future__ import annotations

import gc
import json
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import GenerationError, ModelLoadError, PromptTooLong, BadInput
from .base import Chunk, GenerationConfig, ModelConfig, Progress, Runtime
from .cpu import core_slots, physical_cores
from .gguf_meta import gguf_parameter_count, kv_cache_bytes, read_gguf_metadata
from .memory import format_bytes
from .transformers_chat import ChatFormat
from .transformers_gguf import cached_checkpoint, check_architecture, converted_checkpoint, quiet_transformers
from .transformers_placement import check_placement, choose_device, choose_dtype, free_device_cache, import_torch
from .transformers_schema import SchemaGrammar
from .transformers_stream import GenerateThread, counting_streamer, first_stop, stop_when
from .transformers_weights import DTYPES, module_bytes, parameter_count, quantize_int8

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

DEFAULT_CONTEXT = 2048  # KV cache reserved by the memory estimate, as for llama.cpp
_OVERHEAD_BYTES = 64 * 1024 * 1024  # activations, PyTorch allocator slack


class TransformersRuntime(Runtime):
    """`%lfw register NAME --runtime transformers --source DIR_OR_GGUF [--device] [--dtype] [--quantization int8]`"""

    runtime_name = "transformers"

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        # The causal LM while loaded: a PreTrainedModel with GenerationMixin's generate(), which
        # transformers types only through a private class (its public PreTrainedModel has no generate).
        self.model: Any = None
        self.tokenizer: PreTrainedTokenizerBase | None = None
        self.chat: ChatFormat | None = None  # the tokenizer's chat formatting while loaded
        self._generator: GenerateThread | None = None  # runs model.generate while loaded
        self._placement: tuple[str, str, str, str] | None = None
        self._facts: dict = {}  # what load() found out, for info()
        self._threads_last_run: int | None = None
        self._grammar: SchemaGrammar | None = None  # compiles JSON Schemas for this model while loaded

    # -- registration ------------------------------------------------------------------

    @classmethod
    def validate(cls, config: ModelConfig) -> ModelConfig:
        config.device, config.dtype, config.quantization = check_placement(
            config.device, config.dtype, config.quantization
        )
        cls._validate_source(config)
        return config

    @classmethod
    def _validate_source(cls, config: ModelConfig) -> None:
        source = Path(config.source).expanduser()
        gguf_file = config.options.get("gguf_file")
        if source.is_file():
            gguf_file, source = source, source.parent
        elif gguf_file:
            gguf_file = Path(gguf_file).expanduser()
            gguf_file = gguf_file if gguf_file.is_absolute() else source / gguf_file
            if not gguf_file.is_file():
                raise ModelLoadError(f"no GGUF file at {gguf_file} — check gguf_file (relative to the source)")
        elif not source.is_dir():
            raise ModelLoadError(
                f"no checkpoint directory or GGUF file at {config.source} — give a local path "
                "(download hub models first, e.g. `hf download ID --local-dir DIR`)"
            )
        elif not (source / "config.json").is_file():
            raise ModelLoadError(
                f"{source} has no config.json, so it is not a transformers checkpoint — point the source "
                "at the folder save_pretrained wrote, or at a .gguf file"
            )
        if gguf_file:
            check_architecture(gguf_file)  # also a one-line error for a file that is not GGUF
            config.options = {**config.options, "gguf_file": str(Path(gguf_file).resolve())}
            config.source = str(Path(gguf_file).resolve())
        else:
            config.source = str(source.resolve())

    @property
    def gguf_file(self) -> str | None:
        return self.config.options.get("gguf_file")

    # -- placement and memory ----------------------------------------------------------

    def placement(self) -> tuple[str, str, str, str]:
        """(device, why, dtype, why) — decided once per registration."""
        if self._placement is None:
            device, device_reason = choose_device(self.config.device, self.config.quantization)
            dtype, dtype_reason = choose_dtype(device, self.config.dtype)
            if self.config.quantization == "int8":
                dtype_reason = "int8 quantises the float32 weights once they are loaded"
            self._placement = (device, device_reason, dtype, dtype_reason)
        return self._placement

    def _checkpoint_dir(self) -> Path | None:
        """Where from_pretrained reads: the source directory, or a GGUF's cached conversion."""
        if self.gguf_file:
            return cached_checkpoint(self.gguf_file)
        return Path(self.config.source)

    def estimate_memory(self) -> int:
        """Weights in the chosen dtype (float32 for int8: it quantises after loading) plus KV cache."""
        _, _, dtype, _ = self.placement()
        width = DTYPES["float32" if self.config.quantization == "int8" else dtype]
        folder = self._checkpoint_dir()
        ctx = self.config.context_length or DEFAULT_CONTEXT
        if folder is None:  # a GGUF not converted yet: its own index and metadata tell
            gguf = self.gguf_file
            assert gguf is not None  # only a GGUF's conversion can be missing
            meta = read_gguf_metadata(gguf)
            return gguf_parameter_count(gguf) * width + kv_cache_bytes(meta, ctx, width) + _OVERHEAD_BYTES
        hf = json.loads((folder / "config.json").read_text())
        hf = hf.get("text_config", hf)
        heads = int(hf.get("num_attention_heads") or 1)
        head_dim = int(hf.get("head_dim") or int(hf.get("hidden_size") or 0) // heads)
        kv = (
            2
            * int(hf.get("num_hidden_layers") or 0)
            * ctx
            * int(hf.get("num_key_value_heads") or heads)
            * head_dim
            * width
        )
        return parameter_count(folder, hf) * width + kv + _OVERHEAD_BYTES

    # -- load / unload -----------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self.model is not None

    def load(self, progress: Progress | None = None) -> None:
        report = progress or (lambda fraction, what: None)
        device, _, dtype, _ = self.placement()
        torch = import_torch()
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if self.gguf_file:
            folder = converted_checkpoint(self.gguf_file, lambda f, what: report(0.8 * f, what))
        else:
            folder = Path(self.config.source)
        report(0.8, f"loading {self.config.name} on {device} in {dtype}")
        if self.config.threads:
            torch.set_num_threads(int(self.config.threads))
        try:
            with quiet_transformers():
                tokenizer = AutoTokenizer.from_pretrained(str(folder))
                model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=getattr(torch, dtype))
        except (OSError, ValueError, KeyError, RuntimeError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ModelLoadError(f"transformers could not load {folder}: {first}") from None
        model.to(device)  # type: ignore[arg-type]  # transformers wraps `to` with Module.to's unbound signature
        model.eval()
        facts: dict = {"parameters": sum(p.numel() for p in model.parameters())}
        if self.config.quantization == "int8":
            report(0.9, "quantising Linear layers to int8")
            facts.update(quantize_int8(model))
        facts["weights_memory"] = module_bytes(model)
        self._facts = facts
        self.tokenizer, self.model = tokenizer, model
        self.chat = ChatFormat(tokenizer, self.config.chat_template)
        self._generator = GenerateThread(f"lfwb-transformers-{self.config.name}")
        report(1.0, "loaded")

    def unload(self) -> None:
        if self._generator is not None:
            self._generator.close()
        self.model, self.tokenizer, self.chat, self._generator, self._grammar = None, None, None, None, None
        gc.collect()
        free_device_cache(self._placement[0] if self._placement else "cpu")

    def grammar(self) -> SchemaGrammar:
        """The loaded model's JSON Schema compiler, made on the first schema (xgrammar imported then)."""
        if self._grammar is None:
            model, tokenizer, _, _ = self._loaded()
            self._grammar = SchemaGrammar(tokenizer, model)
        return self._grammar

    def format_chat(self, messages: list[dict]) -> str:
        """The prompt text the model sees for these chat messages (its chat template applied)."""
        return self._loaded()[2].prompt(messages, self.config.name)

    def _loaded(self) -> tuple[Any, PreTrainedTokenizerBase, ChatFormat, GenerateThread]:
        """What `load` made; the manager loads a model before it asks it anything."""
        if self.model is None or self.tokenizer is None or self.chat is None or self._generator is None:
            raise GenerationError(f"{self.config.name} is not loaded")
        return self.model, self.tokenizer, self.chat, self._generator

    # -- generation --------------------------------------------------------------------

    def stream(self, gen: GenerationConfig, cancel: threading.Event) -> Iterator[Chunk]:
        import torch

        model, tokenizer, _, generator = self._loaded()
        if gen.messages is not None:
            ids = tokenizer(self.format_chat(gen.messages), add_special_tokens=False)["input_ids"]
        else:
            ids = tokenizer(gen.prompt)["input_ids"]
        if gen.prefill:  # the answer's start, after the generation prompt; its text, not markup
            ids += tokenizer(gen.prefill, add_special_tokens=False, split_special_tokens=True)["input_ids"]
        input_ids = torch.tensor([ids], device=model.device)
        inputs = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}
        n_in = len(ids)
        ctx = self.context_length
        if n_in >= ctx:
            raise PromptTooLong(
                f"the prompt is {n_in} tokens but {self.config.name}'s context window is {ctx} — shorten it",
                model=self.config.name,
                tokens=n_in,
                limit=ctx,
            )
        halt = threading.Event()  # set by us: a stop string was written, or the consumer left
        streamer = counting_streamer(tokenizer)
        budget = min(gen.max_tokens, ctx - n_in)
        settings = dict(
            max_new_tokens=budget,
            streamer=streamer,
            stopping_criteria=stop_when(cancel, halt),
            pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
            repetition_penalty=gen.repeat_penalty,
        )
        if gen.json_schema is not None:  # compiled here, so a schema it cannot take is refused before generating
            grammar = self.grammar()
            mask = grammar.processor(gen.json_schema, gen.prefill, budget)
            settings.update(logits_processor=[mask], eos_token_id=grammar.stop_ids)
        if gen.temperature > 0:
            settings.update(do_sample=True, temperature=gen.temperature, top_p=gen.top_p, top_k=gen.top_k)
        else:
            settings.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        failure: list[BaseException] = []
        # On the CPU, the cores are leased like llama.cpp's (lfwb/runtimes/cpu.py), for the whole
        # generation: PyTorch sizes its team of threads as the generation starts, so a change
        # made meanwhile could not reach it.
        lease = core_slots.take(self.config.threads or physical_cores()) if model.device.type == "cpu" else None

        def generate() -> None:
            try:
                if lease is not None:  # PyTorch keeps the count per thread: set it in the one that computes
                    torch.set_num_threads(lease.threads)
                    self._threads_last_run = torch.get_num_threads()
                if gen.seed is not None:
                    torch.manual_seed(gen.seed)
                with torch.inference_mode():
                    model.generate(**inputs, **settings)
            except BaseException as e:
                traceback.clear_frames(e.__traceback__)  # frames would keep the model alive
                failure.append(e)
                streamer.text_queue.put(streamer.stop_signal)  # the consumer must not wait forever

        produced, pending, finish = 0, 0, None
        held = ""  # text held back because it might be the start of a stop string
        hold = max((len(s) for s in gen.stop), default=1) - 1
        done = generator.submit(generate)
        lead = gen.prefill or ""  # sent with the first text: part of the answer, and of its first token's time
        try:
            for text, tokens in streamer:
                produced += tokens
                pending += tokens
                held += text
                cut = first_stop(held, gen.stop)
                if cut is not None:
                    held, finish = held[:cut], "stop"
                    halt.set()
                    break
                ready = held[: len(held) - hold] if hold else held
                if ready:
                    held = held[len(ready) :]
                    yield Chunk(text=lead + ready, output_tokens=pending)
                    lead, pending = "", 0
                if cancel.is_set():
                    break
        finally:
            halt.set()
            done.wait()
            if lease is not None:
                lease.release()
        if failure:
            e = failure[0]
            raise GenerationError(f"{self.config.name} failed while generating: {type(e).__name__}: {e}") from e
        if held or lead:
            yield Chunk(text=lead + held, output_tokens=pending)
            pending = 0
        if cancel.is_set():
            finish = "cancelled"
        elif finish is None:
            finish = "length" if produced >= settings["max_new_tokens"] else "stop"
        yield Chunk(input_tokens=n_in, finish_reason=finish, usage={"input_tokens": n_in, "output_tokens": produced})

    @property
    def context_length(self) -> int:
        trained = getattr(self.model.config, "max_position_embeddings", None) if self.model is not None else None
        return int(self.config.context_length or trained or DEFAULT_CONTEXT)

    @property
    def context_window(self) -> int:
        return self.context_length

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` by the model's tokenizer (an estimate until it is loaded)."""
        if self.tokenizer is None:
            return super().count_tokens(text)
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    # -- reporting ---------------------------------------------------------------------

    def info(self) -> dict:
        try:
            device, device_reason, dtype, dtype_reason = self.placement()
        except BadInput as e:  # e.g. --device cuda on a machine without one: say so, don't fail
            device, device_reason, dtype, dtype_reason = self.config.device, str(e), self.config.dtype, ""
        data: dict[str, Any] = {
            "format": "GGUF, converted for transformers" if self.gguf_file else "checkpoint directory",
            "device": device,
            "device_reason": device_reason,
            "dtype": dtype,
            "dtype_reason": dtype_reason,
        }
        if self.gguf_file:
            cached = cached_checkpoint(self.gguf_file)
            data["converted_checkpoint"] = str(cached) if cached else "not yet (converted on first load, then cached)"
        if self.model is not None and self.chat is not None:
            facts = self._facts
            data.update(
                architecture=self.model.config.model_type,
                parameters=f"{facts['parameters'] / 1e6:.1f}M",
                weights_memory=format_bytes(facts["weights_memory"]),
                context_length=self.context_length,
                system_role=self.chat.system_role,
                chat_template="custom"
                if self.config.chat_template
                else ("from the tokenizer" if self.chat.template else "none"),
            )
            if "linear_bytes_before" in facts:
                data["int8"] = (
                    f"Linear weights {format_bytes(facts['linear_bytes_before'])} → "
                    f"{format_bytes(facts['linear_bytes_after'])}; model "
                    f"{format_bytes(facts['model_bytes_before'])} → {format_bytes(facts['model_bytes_after'])}"
                )
            data["threads"] = int(self.config.threads or physical_cores())
            data["threads_last_run"] = self._threads_last_run
        return data
