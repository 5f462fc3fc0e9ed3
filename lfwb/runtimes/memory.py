"""The memory budget of local models: what a model will take, and making room for it.

Before a load, the model's size is estimated from its file or metadata and checked against
the budget: idle models are unloaded least-recently-used first to make room, and a model that
cannot fit even alone is refused before anything is read. Remote models take no local memory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import psutil

from ..errors import InsufficientMemory

if TYPE_CHECKING:
    from .registry import ModelState
    from .settings import RuntimeSettings


def format_bytes(n: float) -> str:
    """`format_bytes(212_000_000)` → '202.2 MiB'."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


class MemoryBudget:
    """The budget over `models` (name → state, shared with the registry), set by `settings`."""

    def __init__(self, models: dict[str, ModelState], settings: RuntimeSettings):
        self.models = models
        self.settings = settings

    @property
    def budget_bytes(self) -> int:
        """Set explicitly, or a fraction of the RAM available when asked (plus what models hold)."""
        if self.settings.memory_budget_bytes is not None:
            return self.settings.memory_budget_bytes
        available = psutil.virtual_memory().available
        return int(available * self.settings.memory_budget_fraction) + self.used_bytes()

    def used_bytes(self) -> int:
        return sum(s.loaded_bytes for s in self._loaded())

    def estimate(self, state: ModelState) -> int:
        """Bytes the model will take once loaded: its config's estimate, else its backend's."""
        return int(state.config.memory_estimate or state.runtime.estimate_memory())

    def make_room(
        self,
        state: ModelState,
        need: int,
        evict: Callable[[ModelState], object],
        wait: Callable[[], bool] | None = None,
    ) -> None:
        """Unload idle models (LRU first, through `evict`) until `need` more bytes fit; else
        refuse with InsufficientMemory. Busy models are never evicted.

        With `wait`, room held by busy models is waited for instead: `wait()` blocks until a
        model finishes or unloads and says whether to try again (False: give up, refused). A
        model that cannot fit even alone is refused at once either way."""
        while True:
            try:
                return self._make_room(state, need, evict)
            except InsufficientMemory:
                if wait is None or need > self.budget_bytes or not wait():
                    raise

    def _make_room(self, state: ModelState, need: int, evict: Callable[[ModelState], object]) -> None:
        budget = self.budget_bytes
        name = state.config.name
        if need > budget:
            raise InsufficientMemory(
                f"{name} needs about {format_bytes(need)} but the memory budget is "
                f"{format_bytes(budget)} — raise it (%config Lfwb.memory_budget_gb = N), "
                "use a smaller quantization, or a remote model",
                model=name,
                need_bytes=need,
                limit_bytes=budget,
            )
        others = sorted((s for s in self._loaded() if s is not state), key=lambda s: s.last_used)
        for other in others:
            if self.used_bytes() + need <= budget:
                return
            if other.lock.acquire(blocking=False):
                try:
                    evict(other)
                finally:
                    other.lock.release()
        if self.used_bytes() + need > budget:
            raise InsufficientMemory(
                f"{name} needs about {format_bytes(need)}; {format_bytes(self.used_bytes())} of the "
                f"{format_bytes(budget)} budget is held by models that are busy — wait, or unload one",
                model=name,
                need_bytes=need,
                limit_bytes=budget,
            )

    def _loaded(self) -> list[ModelState]:
        return [s for s in list(self.models.values()) if s.runtime.local and s.runtime.loaded]
