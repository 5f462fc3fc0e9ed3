"""RuntimeManager: many models, one memory budget, one lock and one worker thread per model.

    >>> from lfwb.runtimes import RuntimeManager, GenerationConfig
    >>> manager = RuntimeManager()                   # smollm2 is registered for you
    >>> text = manager.generate("smollm2", GenerationConfig(prompt="Hi", max_tokens=8)).text

Registration is cheap (validation only); a model loads on first use, after the memory budget
has made room for it. The manager composes the pieces that each hold one concern: the
`Registry` (backends, models, aliases), the `MemoryBudget` (estimates, LRU eviction),
`Listeners` (panels) and `RuntimeSettings` (limits); it owns loading, unloading and the
generations themselves.
"""

from __future__ import annotations

import builtins
import os
import queue
import threading
import time
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from concurrent.futures import wait as wait_for
from typing import TYPE_CHECKING, Any

import psutil

from ..errors import LfwbError, ModelLoadError
from .base import Chunk, GenerationConfig, ModelConfig, Progress, Runtime
from .events import Listener, Listeners
from .memory import MemoryBudget, format_bytes
from .registry import DEFAULT_MODEL, ModelState, Registry, default_model_path
from .settings import RuntimeSettings
from .totals import GenerationResult, StreamTotals

if TYPE_CHECKING:
    from ..store import Store

_JOIN_TIMEOUT_S = 60.0
REMOTE_AT_ONCE = 16  # generations one remote model streams at the same time


_DONE = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


class RuntimeManager:
    """Registers, loads, unloads and runs models; see the module docstring."""

    def __init__(
        self,
        store: Store | None = None,
        settings: RuntimeSettings | None = None,
        register_default: bool = True,
    ):
        self.settings = settings or RuntimeSettings()
        self.events = Listeners()
        self.registry = Registry(self.events, self.settings, store)
        self.memory = MemoryBudget(self.registry.models, self.settings)
        self.session_spent_usd = 0.0  # what priced models cost in this kernel (lfwb.spending adds it up)
        self._memory_lock = threading.RLock()  # one load/evict decision at a time
        # Notified when a generation ends or a model unloads: a load waiting for room held by
        # busy models (stream(wait_for_room=True)) tries again then.
        self._room_freed = threading.Condition(self._memory_lock)
        self._workers_lock = threading.Lock()
        if register_default:
            self._register_default()
        if store is not None:
            self._restore_registrations()

    # -- registration (the Registry holds it; replacing a model unloads it here) ---------

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
        configs = self.registry.default_configs()
        for config in configs:
            self.register(config, persist=False)
        return [c.name for c in configs]

    def _restore_registrations(self) -> None:
        for config in self.registry.stored_configs():
            try:
                self.register(config, persist=False)
            except LfwbError:
                continue  # a file that moved away stays in the store; `%lfw models` omits it
        self.registry.restore_aliases()

    def register(self, config: ModelConfig | None = None, persist: bool = True, **kwargs: Any) -> ModelConfig:
        """Validate and remember a model; nothing is loaded.

        `register(name="tiny", source="tiny.gguf")` or `register(ModelConfig(...))`.
        Re-registering a name replaces it (the old one is unloaded first).
        """
        config = self.registry.validated(config if config is not None else ModelConfig(**kwargs))
        if config.name in self.registry.models:
            self.unload(config.name)
        return self.registry.add(config, persist).config

    def unregister(self, name: str) -> None:
        """Forget a model (unloading it first), also in the store."""
        self.unload(name)
        self.registry.remove(name)

    def attach_store(self, store: Store | None) -> None:
        """Use another store for registrations (loaded models stay loaded)."""
        self.registry.store = store
        if store is not None:
            self._restore_registrations()

    @property
    def store(self) -> Store | None:
        return self.registry.store

    @property
    def aliases(self) -> dict[str, list[str]]:
        return self.registry.aliases

    def alias(self, name: str, models: list[str]) -> list[str]:
        return self.registry.alias(name, models)

    def remove_alias(self, name: str) -> None:
        self.registry.remove_alias(name)

    def resolve(self, name: str) -> list[str]:
        return self.registry.resolve(name)

    def backend(self, runtime: str) -> type[Runtime]:
        return self.registry.backend(runtime)

    def backend_names(self) -> list[str]:
        return self.registry.backend_names()

    def add_backend(self, runtime_class: type[Runtime]) -> None:
        self.registry.add_backend(runtime_class)

    def __contains__(self, name: str) -> bool:
        return name in self.registry.models

    def names(self) -> list[str]:
        return list(self.registry.models)

    def config(self, name: str) -> ModelConfig:
        return self.registry.state(name).config

    def runtime(self, name: str) -> Runtime:
        """A model's backend object, e.g. `manager.runtime("tiny").model` (transformers)."""
        return self.registry.state(name).runtime

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(event, model)` when a model is registered, loads, unloads or finishes
        a generation (see lfwb.runtimes.events). Returns a function that unsubscribes."""
        return self.events.subscribe(listener)

    # -- memory (the MemoryBudget) -------------------------------------------------------

    @property
    def budget_bytes(self) -> int:
        return self.memory.budget_bytes

    @budget_bytes.setter
    def budget_bytes(self, value: int | None) -> None:
        self.settings.memory_budget_bytes = value

    def used_bytes(self) -> int:
        return self.memory.used_bytes()

    def estimate(self, name: str) -> int:
        return self.memory.estimate(self.registry.state(name))

    # -- load / unload -----------------------------------------------------------------

    def load(self, name: str, progress: Progress | None = None) -> None:
        """Load now rather than on first use (waits if the model is busy)."""
        state = self.registry.state(name)
        with state.lock:
            self._ensure_loaded(state, progress)

    def _ensure_loaded(
        self,
        state: ModelState,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        # Caller holds state.lock. With `cancel`, room held by busy models is waited for (until
        # cancelled) instead of refused.
        if state.runtime.loaded:
            return
        name = state.config.name
        with self._memory_lock:
            need = self.memory.estimate(state) if state.runtime.local else 0
            if state.runtime.local:
                wait = None if cancel is None else (lambda: self._wait_for_room(cancel))
                self.memory.make_room(state, need, self._unload_state, wait)
                if cancel is not None and cancel.is_set():
                    return  # stopped while waiting: the caller sees the cancel and loads nothing
            start = time.perf_counter()
            state.loading = 0.0

            def report(fraction: float, what: str) -> None:
                state.loading = fraction
                if progress:
                    progress(fraction, what)
                self.events.emit("loading", name)

            self.events.emit("loading", name)
            try:
                state.runtime.load(report)
            except LfwbError:
                raise
            except Exception as e:  # a backend's own error: say which model and what to do
                raise ModelLoadError(
                    f"could not load {name} from {state.config.source}: {e} — check the file, or register it again",
                    model=name,
                ) from e
            finally:
                state.loading = None
                if not state.runtime.loaded:
                    self.events.emit("unloaded", name)  # a failed load: panels drop its progress
            state.load_seconds = time.perf_counter() - start
            state.loaded_bytes = need
            state.last_used = time.monotonic()
        self.events.emit("loaded", name)

    def _wait_for_room(self, cancel: threading.Event) -> bool:
        """Wait (holding no lock) until a model finishes or unloads; False once cancelled."""
        self._room_freed.wait(timeout=0.1)  # the timeout: a cancel has nothing to notify with
        return not cancel.is_set()

    def _room_changed(self) -> None:
        with self._room_freed:
            self._room_freed.notify_all()

    def unload(self, name: str) -> bool:
        """Unload a model (waits for a running generation on it). True if it was loaded."""
        state = self.registry.state(name)
        with state.lock:
            return self._unload_state(state)

    def _unload_state(self, state: ModelState) -> bool:
        # Caller holds state.lock.
        self._stop_worker(state)
        if not state.runtime.loaded:
            return False
        state.runtime.unload()
        state.loaded_bytes = 0
        self.events.emit("unloaded", state.config.name)
        self._room_changed()
        return True

    def unload_all(self) -> None:
        for name in list(self.registry.models):
            self.unload(name)

    def busy(self, name: str) -> bool:
        """Is a generation (or a load) running on this model right now?"""
        return self.registry.state(name).lock.locked()

    def _worker(self, state: ModelState) -> ThreadPoolExecutor:
        with self._workers_lock:
            if state.worker is None:
                # A local model computes one generation at a time; a remote one is a server that
                # answers many at once (a batch's --concurrency relies on it).
                at_once = 1 if state.runtime.local else REMOTE_AT_ONCE
                state.worker = ThreadPoolExecutor(
                    max_workers=at_once, thread_name_prefix=f"lfwb-model-{state.config.name}"
                )
            return state.worker

    def _stop_worker(self, state: ModelState) -> None:
        with self._workers_lock:
            worker, state.worker = state.worker, None
        if worker is not None:
            worker.shutdown(wait=False)  # its thread ends once any queued work is done

    # -- running -----------------------------------------------------------------------

    def stream(
        self,
        name: str,
        gen: GenerationConfig,
        cancel: threading.Event | None = None,
        progress: Progress | None = None,
        wait_for_room: bool = False,
        idle_s: float | None = None,
        on_turn: Callable[[], None] | None = None,
    ) -> Generator[Chunk, None, None]:
        """Yield chunks as the model writes them. Closing the iterator (or an interrupt in the
        consumer) cancels the generation, which has ended before this returns. Generations run
        on the model's own worker thread, one at a time, in the order they were asked for.

        `wait_for_room`: a local model whose memory is held by busy models waits for one to
        finish (and be evicted) rather than being refused — two pipeline steps on two models
        that cannot both fit run one after the other. Cancelling ends the wait.

        `idle_s`: while the model writes nothing for that long, an empty Chunk comes instead,
        so the consumer gets its turn during a stall (a run saves its text so far on time).

        `on_turn()` is called (on the model's thread) once this generation holds the model: what
        came before was waiting for the generations ahead of it (a pipeline's timeline shows it)."""
        state = self.registry.state(name)
        cancel = cancel or threading.Event()
        chunks: queue.Queue = queue.Queue()

        def work() -> None:
            try:
                with state.lock if state.runtime.local else nullcontext():  # a busy local model: wait our turn
                    if cancel.is_set():
                        return
                    if on_turn is not None:
                        on_turn()
                    self._ensure_loaded(state, progress, cancel if wait_for_room else None)
                    if cancel.is_set():
                        return
                    state.last_used = time.monotonic()
                    for chunk in state.runtime.stream(gen, cancel):
                        chunks.put(chunk)
                        if cancel.is_set():
                            break
                    state.last_used = time.monotonic()
            except BaseException as e:  # reaches the caller, never dies silently in the thread
                chunks.put(_Failure(e))
            finally:
                self._room_changed()  # the model is idle now: a load waiting for room may evict it
                chunks.put(_DONE)

        totals = StreamTotals()
        job = self._worker(state).submit(work)
        try:
            while True:
                try:
                    item = chunks.get(timeout=idle_s)
                except queue.Empty:
                    yield Chunk()
                    continue
                if item is _DONE:
                    break
                if isinstance(item, _Failure):
                    raise item.error
                totals.add(item)
                yield item
        finally:
            cancel.set()
            wait_for([job], _JOIN_TIMEOUT_S)
            state.last_tok_s = totals.tokens_per_second() or state.last_tok_s
            state.runs += 1
            state.tokens_out += totals.output_tokens
            self.events.emit("finished", name)

    def warm(self, name: str, messages: list[dict], cancel: threading.Event | None = None) -> int:
        """Evaluate a chat's stable start into a loaded local model's cache while it is idle
        (`Runtime.warm`), taking its turn like a generation; the tokens evaluated (0: nothing to
        do, not loaded, or cancelled before its turn)."""
        state = self.registry.state(name)
        cancel = cancel or threading.Event()
        if not state.runtime.local:
            return 0
        with state.lock:
            if cancel.is_set() or not state.runtime.loaded:
                return 0
            state.last_used = time.monotonic()
            return state.runtime.warm(messages, cancel)

    def generate(self, name: str, gen: GenerationConfig, cancel: threading.Event | None = None) -> GenerationResult:
        """Run to the end and return the whole text."""
        totals = StreamTotals()
        for chunk in self.stream(name, gen, cancel):
            totals.add(chunk)
        return totals.result(name)

    def chat(self, name: str, messages: list[dict], **settings: Any) -> GenerationResult:
        """`generate` with chat messages, formatted by the model's own chat template."""
        return self.generate(name, GenerationConfig(messages=messages, **settings))

    # -- reporting ---------------------------------------------------------------------

    def list(self) -> list[dict]:
        """One row per registered model, for `%lfw models`."""
        return [
            {
                "name": name,
                "runtime": s.config.runtime,
                "source": s.config.source,
                "loaded": s.runtime.loaded,
                "memory": format_bytes(s.loaded_bytes if s.runtime.loaded else self._safe_estimate(s)),
            }
            for name, s in self.registry.models.items()
        ]

    def _safe_estimate(self, state: ModelState) -> int:
        try:
            return self.memory.estimate(state)
        except LfwbError:
            return 0

    def info(self, name: str) -> dict:
        s = self.registry.state(name)
        data = {k: v for k, v in s.config.to_dict().items() if v not in (None, {}, "")}
        data.update(
            loaded=s.runtime.loaded,
            estimated_memory=format_bytes(self._safe_estimate(s)),
            load_seconds=None if s.load_seconds is None else round(s.load_seconds, 2),
        )
        data.update(s.runtime.info())
        return data

    def health(self) -> builtins.list[dict]:  # `list` here is the method above
        """Can each model run? Cheap checks only: files present, keys set, servers named."""
        return [{"name": name, **s.runtime.health()} for name, s in self.registry.models.items()]

    def stats(self) -> dict:
        """Per-model usage plus process memory and the budget."""
        models = [
            {
                "name": name,
                "loaded": s.runtime.loaded,
                "bytes": s.loaded_bytes if s.runtime.loaded else 0,
                "load_s": None if s.load_seconds is None else round(s.load_seconds, 2),
                "runs": s.runs,
                "tokens_out": s.tokens_out,
                "last_tok_s": None if s.last_tok_s is None else round(s.last_tok_s, 1),
                "loading": s.loading,
            }
            for name, s in self.registry.models.items()
        ]
        return {
            "models": models,
            "rss_bytes": psutil.Process(os.getpid()).memory_info().rss,
            "used_bytes": self.memory.used_bytes(),
            "budget_bytes": self.memory.budget_bytes,
        }
