"""What every backend shares: the configs and the small `Runtime` interface.

A backend is one module with one `Runtime` subclass, registered under the `lfwb.runtimes`
entry-point group (see pyproject.toml). It loads a model, streams `Chunk`s of text, and
unloads; the `RuntimeManager` does locking, memory budgeting, threads and cancellation, and
hands each model its `RuntimeSettings` (retries, prices, session keys).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

from ..errors import LfwbError, BadInput, check_text
from .settings import RuntimeSettings

DEFAULT_MAX_TOKENS = 256
DEFAULT_REPEAT_PENALTY = 1.1
# Gemini reads a seed as a signed 32-bit number and llama.cpp as an unsigned one whose top value
# means "random": 0..2**31-1 is a seed every backend takes and repeats.
MAX_SEED = 2**31 - 1
# Token counts go to APIs as 32-bit integers; no context window comes near this.
MAX_TOKENS_LIMIT = 2**31 - 1
Progress = Callable[[float, str], None]  # (fraction 0..1, what is happening)


@dataclass
class ModelConfig:
    """A registered model: where it comes from and how to run it.

    Backend-specific settings (`base_url`, `api_key_env`, `gguf_file`, ...) go in `options`.
    Secrets never do: a remote model names the environment variable that holds its key.
    """

    name: str
    source: str
    runtime: str = "llama_cpp"
    device: str = "auto"
    dtype: str = "auto"
    quantization: str = "none"
    context_length: int | None = None
    threads: int | None = None
    chat_template: str | None = None
    memory_estimate: int | None = None  # bytes; None = let the backend estimate
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class GenerationConfig:
    """One request: a raw `prompt` or chat `messages`, and the sampling settings."""

    prompt: str | None = None
    messages: list[dict] | None = None
    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    # Local backends only (llama.cpp, transformers): >1 discourages repeating recent tokens,
    # which small models otherwise fall into ("a blank slate, a blank slate, ..."); 1 is off.
    repeat_penalty: float = DEFAULT_REPEAT_PENALTY
    # A JSON Schema the answer must match, constrained while decoding (not parsed and hoped
    # for). It arrives already bounded (see lfwb/structured.py); `{"type": "object"}` is "any
    # JSON object". None: free text.
    json_schema: dict | None = None
    # Text the answer starts with: the model continues it (small models continue a started
    # component far more reliably than they start one). Part of the returned text.
    prefill: str | None = None

    def __post_init__(self) -> None:
        if (self.prompt is None) == (self.messages is None):
            raise BadInput("give either a prompt or chat messages, not both or neither")
        if not _whole(self.max_tokens, 1, MAX_TOKENS_LIMIT):
            raise BadInput(f"max tokens must be a whole number from 1 to {MAX_TOKENS_LIMIT}, got {self.max_tokens!r}")
        if not _whole(self.top_k, 0, MAX_TOKENS_LIMIT):
            raise BadInput(f"top-k must be a whole number from 0 (off) to {MAX_TOKENS_LIMIT}, got {self.top_k!r}")
        if self.seed is not None and not _whole(self.seed, 0, MAX_SEED):
            raise BadInput(f"a seed is a whole number from 0 to {MAX_SEED}, got {self.seed!r}")
        if not 0 <= float(self.temperature) <= 2:
            raise BadInput(f"temperature must be between 0 and 2, got {self.temperature!r}")
        if not 0 < float(self.top_p) <= 1:
            raise BadInput(f"top-p must be in (0, 1], got {self.top_p!r}")
        if not 0 < float(self.repeat_penalty) <= 2:
            raise BadInput(f"repeat penalty must be in (0, 2] (1 is off), got {self.repeat_penalty!r}")
        if isinstance(self.stop, str):
            self.stop = [self.stop]
        if any(not isinstance(s, str) or not s for s in self.stop):
            # An empty stop string matches at once: the answer would come back empty and "done".
            raise BadInput(f"a stop string must be non-empty text, got {self.stop!r}")
        check_text(self.prompt or "", "the prompt")
        for message in self.messages or ():
            if isinstance(message, dict) and isinstance(message.get("content"), str):
                check_text(message["content"], f"the {message.get('role', 'user')} message")
        for text in self.stop:
            check_text(text, "a stop string")

    @property
    def asked(self) -> str:
        """What was asked: the prompt, or the last message's text."""
        if self.prompt is not None:
            return self.prompt
        assert self.messages is not None  # one of the two, checked in __post_init__
        return self.messages[-1]["content"]

    def params(self) -> dict:
        """The settings as stored in a run's params_json (no prompt or messages)."""
        data = asdict(self)
        data.pop("prompt")
        data.pop("messages")
        return data


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


@dataclass
class Chunk:
    """A piece of streamed output. The last chunk of a stream may carry exact usage."""

    text: str = ""
    output_tokens: int = 0  # tokens in this chunk
    input_tokens: int | None = None  # prompt tokens, once known
    finish_reason: str | None = None
    usage: dict | None = None  # authoritative totals from the backend (remote APIs)
    cost_usd: float | None = None


class Runtime:
    """The interface a backend implements. One instance per registered model.

    `stream` runs in a worker thread owned by the manager, one call at a time per model; it
    must return soon after `cancel` is set (checking between tokens is enough).
    """

    runtime_name: ClassVar[str] = ""
    local: ClassVar[bool] = True  # counts against the memory budget
    # The name `%lfw key` takes for this backend's API key (remote backends); None: no key.
    provider: ClassVar[str | None] = None
    # Model ids registered without `%lfw register` when the backend can serve them (see default_configs).
    default_models: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: ModelConfig):
        self.config = config
        # The registering manager's own settings replace these (Registry.add), so a change to
        # them reaches every model at once; a Runtime made by hand gets the defaults.
        self.settings = RuntimeSettings()

    @classmethod
    def validate(cls, config: ModelConfig) -> ModelConfig:
        """Cheap checks at register time (no loading); return the normalised config."""
        return config

    @classmethod
    def default_configs(cls, settings: RuntimeSettings) -> list[ModelConfig]:
        """The models of `default_models` this backend can serve now with `settings` (a remote
        one: once its key is set); the manager registers them, unsaved."""
        return []

    def check_ready(self) -> None:
        """Cheap checks that this model can run now, nothing loaded (a file still there, a key
        set); raises the LfwbError that says why not."""
        self.validate(self.config)

    def health(self) -> dict:
        """{"ok": bool, "detail": str} for `%lfw health`, from `check_ready`."""
        try:
            self.check_ready()
        except LfwbError as e:
            return {"ok": False, "detail": str(e)}
        return {"ok": True, "detail": "loaded" if self.loaded else "ready"}

    def estimate_memory(self) -> int:
        """Bytes this model will take once loaded, known before anything is read."""
        return 0

    @property
    def loaded(self) -> bool:
        raise NotImplementedError

    def load(self, progress: Progress | None = None) -> None:
        raise NotImplementedError

    def unload(self) -> None:
        raise NotImplementedError

    def stream(self, gen: GenerationConfig, cancel: threading.Event) -> Iterator[Chunk]:
        raise NotImplementedError

    def warm(self, messages: list[dict], cancel: threading.Event) -> int:
        """Evaluate the start of a chat prompt (`messages`, no answer opened) into the model's
        cache ahead of the turn that will send it; the tokens evaluated. A backend without a
        prompt cache does nothing."""
        return 0

    @property
    def context_window(self) -> int | None:
        """Tokens the model sees at once, prompt and answer together; None when unknown."""
        return self.config.context_length

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes for this model. By default an estimate (about 4 characters a
        token); a local backend counts with its own tokenizer once loaded."""
        return -(-len(text) // 4)

    def info(self) -> dict:
        """Backend-specific facts for `%lfw info` (what was chosen and why)."""
        return {}


def chat_config(prompt: str, system: str | None = None, raw: bool = False, **settings: Any) -> GenerationConfig:
    """The GenerationConfig for `prompt`: one user message through the model's chat template
    (after `system`, if given), or the prompt as is with `raw=True`. A bad setting: one line."""
    if raw:
        return GenerationConfig(prompt=prompt, **settings)
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    return GenerationConfig(messages=messages, **settings)
