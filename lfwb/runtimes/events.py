"""The manager's listener bus: panels hear when a model registers, loads, unloads or finishes.

>>> unsubscribe = manager.subscribe(lambda event, model: print(event, model))
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

# What a listener hears: (event, model name). Events: "registered", "unregistered", "loading"
# (progress), "loaded", "unloaded", "finished" (a generation ended, stats changed).
Listener = Callable[[str, str], None]


class Listeners:
    """Who to tell; `emit` never lets a listener's failure reach the one who emitted."""

    def __init__(self) -> None:
        self._refs: list[Callable[[], Listener | None]] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(event, model)` on each event. Returns a function that unsubscribes.

        Bound methods are held weakly, so a panel that is thrown away stops listening.
        """
        ref = weakref.WeakMethod(listener) if hasattr(listener, "__self__") else (lambda: listener)
        self._refs.append(ref)

        def unsubscribe() -> None:
            if ref in self._refs:
                self._refs.remove(ref)

        return unsubscribe

    def emit(self, event: str, name: str) -> None:
        for ref in list(self._refs):
            listener = ref()
            if listener is None:
                self._refs.remove(ref)
                continue
            try:
                listener(event, name)
            except Exception:  # a broken panel must never break a generation
                pass
