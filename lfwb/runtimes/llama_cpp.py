"""GGUF models through llama-cpp-python (the default backend; `smollm2` runs here)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from ..errors import GenerationError, ModelLoadError, PromptTooLong, BadInput
from .base import Chunk, GenerationConfig, ModelConfig, Progress, Runtime
from .cpu import CoreLease, core_slots, free_cores, physical_cores
from .gguf_meta import kv_cache_bytes, read_gguf_metadata

if TYPE_CHECKING:
    from llama_cpp import ChatCompletionRequestMessage

    from .llama_grammar import GrammarLlama
    from .llama_prompt import ChatPrompt

DEFAULT_CONTEXT = 2048
# llama.cpp's compute buffers and bookkeeping beyond weights + KV cache.
_OVERHEAD_BYTES = 64 * 1024 * 1024
_CONTEXT_STEP = 256
# Flash attention runs on the CPU too and cut SmolLM2's time per token by about a fifth here
# (98 → 123 tok/s on 2 cores); `--option flash_attn=false` turns it off.
FLASH_ATTENTION = True


class LlamaCppRuntime(Runtime):
    """`%lfw register NAME --runtime llama_cpp --source FILE.gguf [--context-length N] [--threads N]`"""

    runtime_name = "llama_cpp"

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self._llama: GrammarLlama | None = None
        self._meta: dict | None = None
        self._threads_set: tuple[int, int] | None = None  # (per token, for the prompt) in llama.cpp
        self._prompt: ChatPrompt | None = None  # the chat template, rendered to tokens
        self._vocab: Any = None  # the tokenizer alone, to count tokens before the model loads

    @classmethod
    def validate(cls, config: ModelConfig) -> ModelConfig:
        path = Path(config.source).expanduser()
        if not path.is_file():
            raise ModelLoadError(f"no GGUF file at {config.source} — check the path")
        read_gguf_metadata(path)  # raises a one-line error for a file that is not a GGUF
        if config.context_length is not None and config.context_length < 16:
            raise BadInput(f"context length must be at least 16, got {config.context_length}")
        config.source = str(path.resolve())
        return config

    @property
    def meta(self) -> dict:
        if self._meta is None:
            self._meta = read_gguf_metadata(self.config.source)
        return self._meta

    @property
    def n_ctx(self) -> int:
        trained = int(
            self.meta.get(f"{self.meta.get('general.architecture', 'llama')}.context_length", DEFAULT_CONTEXT)
        )
        asked = int(self.config.context_length or min(trained, DEFAULT_CONTEXT))
        # llama.cpp pads the window to a multiple of 256; llama-cpp-python sizes its token
        # buffer from the unpadded number and crashes on a prompt in between. Ask for the padding.
        return -(-asked // _CONTEXT_STEP) * _CONTEXT_STEP

    @property
    def n_threads(self) -> int:
        """At most this many threads: `--threads`, else every physical core (llama-cpp-python
        alone would take half the logical CPUs)."""
        return int(self.config.threads or physical_cores())

    def _token_threads(self, lease: CoreLease) -> int:
        # --threads is taken as given (within the cores leased); by default, token by token,
        # only the cores other programs leave free (lfwb/runtimes/cpu.py: a busy core stalls
        # every thread at llama.cpp's barriers).
        return lease.threads if self.config.threads else min(lease.threads, free_cores.threads(self.n_threads))

    def _set_threads(self, per_token: int, prompt: int) -> None:
        if (per_token, prompt) != self._threads_set:
            import llama_cpp

            llama_cpp.llama_set_n_threads(self._loaded().ctx, per_token, prompt)
            self._threads_set = (per_token, prompt)

    def estimate_memory(self) -> int:
        size = Path(self.config.source).stat().st_size
        return size + kv_cache_bytes(self.meta, self.n_ctx) + _OVERHEAD_BYTES

    @property
    def loaded(self) -> bool:
        return self._llama is not None

    @property
    def flash_attention(self) -> bool:
        return bool(self.config.options.get("flash_attn", FLASH_ATTENTION))

    def load(self, progress: Progress | None = None) -> None:
        # A Llama that samples under a schema's grammar near the free speed (llama_grammar.py).
        from .llama_grammar import GrammarLlama

        if progress:
            progress(0.0, f"loading {Path(self.config.source).name}")
        try:
            # verbose=False also silences llama.cpp's own C logging: nothing reaches the notebook.
            llama = GrammarLlama(
                model_path=self.config.source,
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                n_threads_batch=self.n_threads,
                flash_attn=self.flash_attention,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as e:
            raise ModelLoadError(
                f"llama.cpp could not load {self.config.source} ({e}) — the file may be damaged "
                "or of an architecture this llama.cpp does not know"
            ) from None
        self._llama = llama
        if progress:
            progress(1.0, "loaded")

    def unload(self) -> None:
        self._threads_set, self._prompt = None, None
        llama, self._llama = self._llama, None
        if llama is not None:
            llama.close()

    def _loaded(self) -> GrammarLlama:
        """The model `load` made; the manager loads a model before it asks it anything."""
        if self._llama is None:
            raise GenerationError(f"{self.config.name} is not loaded")
        return self._llama

    def stream(self, gen: GenerationConfig, cancel: threading.Event) -> Iterator[Chunk]:
        # The cores are leased for the whole generation (lfwb/runtimes/cpu.py). The prompt is
        # one big batch with few barriers per unit of work: it computes on every core held,
        # which halves the time to the first token; then the tokens keep only the cores
        # other programs leave free, and one fewer each time another generation waits.
        with core_slots.take(self.n_threads) as lease:
            self._set_threads(self._token_threads(lease), lease.threads)
            yield from self._stream(gen, cancel, lease)

    def _stream(self, gen: GenerationConfig, cancel: threading.Event, lease: CoreLease) -> Iterator[Chunk]:
        import llama_cpp

        llama = self._loaded()
        first = True
        settings: dict[str, Any] = dict(
            max_tokens=gen.max_tokens,
            temperature=gen.temperature,
            top_p=gen.top_p,
            top_k=gen.top_k,
            stop=gen.stop or None,
            # llama-cpp-python defaults to 1.1 for completions but 1.0 for chat; lfwb passes one
            # setting (GenerationConfig.repeat_penalty, 1.1) to both, so a chat and its
            # template-formatted prompt give the same text. Small models loop without it.
            repeat_penalty=gen.repeat_penalty,
        )
        if gen.seed is not None:
            settings["seed"] = gen.seed
        if gen.json_schema is not None:
            from .llama_grammar import schema_grammar

            settings["grammar"] = schema_grammar(gen.json_schema)
        llama.budget = gen.max_tokens  # the loop guard closes the JSON within it (llama_grammar.py)
        produced = 0
        finish = None
        prefill = gen.prefill or ""  # sent with the first piece: part of the answer, and of its first token's time
        prompt = self._chat_prompt(required=bool(prefill)) if gen.messages is not None else None
        llama_cpp.llama_perf_context_reset(llama.ctx)  # its counters say what this prompt evaluated
        try:
            if prompt is not None:
                assert gen.messages is not None  # a chat prompt only for messages
                tokens, stop, criteria = prompt.tokens(gen.messages, prefill)
                pieces = _streamed(
                    llama.create_completion(
                        prompt=tokens,
                        **{**settings, "stop": [*gen.stop, *stop]},
                        stopping_criteria=criteria,
                        stream=True,
                    )
                )
            elif gen.messages is not None:
                # A model without a chat template: llama-cpp-python's own chat format.
                messages = cast("list[ChatCompletionRequestMessage]", gen.messages)
                pieces = _streamed(llama.create_chat_completion(messages=messages, **settings, stream=True))
            else:
                pieces = _streamed(
                    llama.create_completion(prompt=(gen.prompt or "") + prefill, **settings, stream=True)
                )
            try:
                for piece in pieces:
                    if first:  # the prompt is done: hold only the cores the tokens use
                        lease.keep(self._threads_set[0] if self._threads_set else lease.threads)
                        first = False
                    if lease.between_tokens():  # another generation waits: one core to it
                        self._set_threads(lease.threads, lease.threads)
                    choice = piece["choices"][0]
                    text = choice.get("text")
                    if text is None:
                        text = (choice.get("delta") or {}).get("content") or ""
                    finish = choice.get("finish_reason") or finish
                    if text:
                        produced += 1
                        text, prefill = prefill + text, ""
                        yield Chunk(text=text, output_tokens=1)
                    if cancel.is_set():
                        finish = "cancelled"
                        break
            finally:
                close = getattr(pieces, "close", None)  # a generator: closing it ends llama.cpp's loop
                if close is not None:
                    close()
            if prefill:  # the model added nothing to it
                yield Chunk(text=prefill)
        except ValueError as e:
            match = re.search(r"Requested tokens \((\d+)\) exceed context window of (\d+)", str(e))
            if match:
                raise PromptTooLong(
                    f"the prompt is {match.group(1)} tokens but {self.config.name}'s context window is "
                    f"{match.group(2)} — shorten it, or register the model with a larger context length",
                    model=self.config.name,
                    tokens=int(match.group(1)),
                    limit=int(match.group(2)),
                ) from None
            raise
        fed_back = _fed_back(produced, finish)
        prompt_tokens = max(0, llama.n_tokens - fed_back)
        perf = llama_cpp.llama_perf_context(llama.ctx)
        # Every token decoded since the reset, less the answer's own: the prompt's tokens the
        # cache did not hold. `cached_tokens`, as remote APIs report theirs.
        evaluated = max(0, perf.n_p_eval + perf.n_eval - fed_back)
        yield Chunk(
            input_tokens=prompt_tokens,
            finish_reason=finish,
            usage={"input_tokens": prompt_tokens, "cached_tokens": max(0, prompt_tokens - evaluated)},
        )

    def _chat_prompt(self, required: bool = False) -> ChatPrompt | None:
        """The model's chat template as a ChatPrompt (lfwb's, else the GGUF's); None without one,
        refused when `required` (a prefill needs it: llama-cpp-python's chat call cannot start the answer)."""
        if self._prompt is None:
            llama = self._loaded()
            template = self.config.chat_template or llama.metadata.get("tokenizer.chat_template")
            if not template:
                if required:
                    raise BadInput(
                        f"prefill needs a chat template and {self.config.name} has none — register "
                        "it with --chat-template, or give a raw prompt"
                    )
                return None
            from .llama_prompt import ChatPrompt

            self._prompt = ChatPrompt(llama, template)
        return self._prompt

    def warm(self, messages: list[dict], cancel: threading.Event) -> int:
        """Evaluate `messages` (a chat's stable start: system, summary, kept turns) into the KV
        cache now, so the turn that sends them after a new message evaluates only that message.
        Returns the tokens evaluated; stops between batches once `cancel` is set."""
        import llama_cpp

        from .llama_prompt import common_length

        prompt = self._chat_prompt()
        if prompt is None:
            return 0
        llama = self._loaded()
        tokens = prompt.tokens(messages, answer=False)[0]

        start = common_length(tokens, llama.input_ids[: llama.n_tokens].tolist())
        if start >= len(tokens):
            return 0
        with core_slots.take(self.n_threads) as lease:
            self._set_threads(self._token_threads(lease), lease.threads)
            llama.n_tokens = start  # eval() drops the cache past it
            done = start
            while done < len(tokens) and not cancel.is_set():
                batch = tokens[done : done + llama.n_batch]
                llama.eval(batch)
                done += len(batch)
        llama_cpp.llama_perf_context_reset(llama.ctx)
        return done - start

    @property
    def context_window(self) -> int:
        return self.n_ctx

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` by the model's own tokenizer (an estimate until it is loaded).
        Special tokens are read as such: a chat template's markers count one each."""
        data = text.encode("utf-8", "surrogatepass")
        if self._llama is not None:
            return len(self._llama.tokenize(data, add_bos=False, special=True))
        if self._vocab is None:
            # The tokenizer alone (no weights, ~20 MiB, a fraction of a second): a chain counts
            # its prompt with the smallest window's tokenizer, loaded or not (lfwb/chat/memory.py).
            import llama_cpp
            from llama_cpp._internals import LlamaModel

            params = llama_cpp.llama_model_default_params()
            params.vocab_only = True
            self._vocab = LlamaModel(path_model=self.config.source, params=params, verbose=False)
        return len(self._vocab.tokenize(data, add_bos=False, special=True))

    def info(self) -> dict:
        meta = self.meta
        arch = meta.get("general.architecture")
        return {
            "architecture": arch,
            "gguf_name": meta.get("general.name"),
            "file_type": meta.get("general.file_type"),
            "context_length": self.n_ctx,
            "trained_context": meta.get(f"{arch}.context_length"),
            "threads": self.n_threads,
            "flash_attention": self.flash_attention,
            "threads_last_run": self._threads_set[0] if self._threads_set else None,
            "chat_template": "custom"
            if self.config.chat_template
            else ("from GGUF metadata" if "tokenizer.chat_template" in meta else "none"),
        }


def _streamed(response: object) -> Iterator[Mapping[str, Any]]:
    """A `stream=True` answer's chunks (a completion's or a chat completion's): llama-cpp-python
    annotates its create_* calls with one union of the whole answer and the stream."""
    return cast("Iterator[Mapping[str, Any]]", response)


def _fed_back(produced: int, finish: str | None) -> int:
    """Generated tokens llama.cpp fed back into its context: all of them when the model stopped
    by itself (the end token is sampled, never fed), all but the last when it ran out of max
    tokens or was cancelled. The rest of the context is the prompt."""
    return produced if finish == "stop" else max(produced - 1, 0)
