"""The Workbench's models: register, load, unload, list, info, health, stats, aliases and keys.

Each method is the one operation `%lfw`, the models panel and the server's runtime routes call
alike; they go to the Workbench's RuntimeManager. Rows are plain values: `loaded` and `ok` are
booleans, and a face draws its own marks for them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .runtimes import ModelConfig, RuntimeManager
    from .runtimes.base import Progress, Runtime


class Models:
    """Mixed into `Workbench` (lfwb/workbench.py), which holds `manager`."""

    manager: RuntimeManager

    def models(self) -> list[dict]:
        """Registered models: name, runtime, loaded, memory, source."""
        return self.manager.list()

    def model_names(self) -> list[str]:
        """Registered models and aliases, as a model picker offers them."""
        return self.manager.names()

    def register_model(self, **fields: Any) -> ModelConfig:
        """Register a model (nothing loads until it is used); kept in the store."""
        return self.manager.register(**fields)

    def unregister_model(self, name: str) -> None:
        """Forget a registered model, unloading it first."""
        self.manager.unregister(name)

    def load_model(self, name: str, progress: Progress | None = None) -> dict:
        """Load `name` now rather than on first use; returns its stats row."""
        self.manager.load(name, progress)
        return next(r for r in self.manager.stats()["models"] if r["name"] == name)

    def unload_model(self, name: str) -> bool:
        """Unload `name` and free its memory; False when it was not loaded."""
        return self.manager.unload(name)

    def unload_models(self) -> list[str]:
        """Unload every model (their workers too); returns the names that were loaded."""
        return [row["name"] for row in self.manager.list() if self.manager.unload(row["name"])]

    def model_info(self, name: str) -> dict:
        return self.manager.info(name)

    def model_health(self) -> list[dict]:
        """Can each model run (files present, keys set)? Cheap checks; nothing loads."""
        return self.manager.health()

    def model_stats(self) -> dict:
        """Per-model runs, tokens and memory (`models`); the process's memory and the budget."""
        return self.manager.stats()

    def resolve_model(self, name: str) -> list[str]:
        """The models `name` stands for (itself, or an alias's chain); unknown: `ModelNotFound`."""
        return self.manager.resolve(name)

    def backend(self, runtime: str) -> type[Runtime]:
        return self.manager.backend(runtime)

    def on_model_event(self, listener: Callable[[str, str], None]) -> Callable[[], None]:
        """Call `listener(event, name)` on loads, unloads and finished generations; returns the
        function that stops it."""
        return self.manager.subscribe(listener)

    # -- aliases and keys ----------------------------------------------------------------

    def aliases(self) -> dict[str, list[str]]:
        """Alias name → the models tried in order."""
        return dict(self.manager.aliases)

    def set_alias(self, name: str, models: list[str]) -> list[str]:
        """Make (or change) a fallback chain; kept in the store. Returns the chain."""
        return self.manager.alias(name, models)

    def remove_alias(self, name: str) -> None:
        self.manager.remove_alias(name)

    def check_provider(self, provider: str) -> None:
        """One line when no backend declares `provider` (and no model is named so)."""
        from .runtimes.keys import check_provider

        check_provider(self.manager, provider)

    def use_key(self, provider: str, key: str | None) -> list[str]:
        """Keep an API key for `provider` in memory for this session (None forgets it); returns
        the registered models it serves."""
        from .runtimes.keys import use_key

        return use_key(self.manager, provider, key)
