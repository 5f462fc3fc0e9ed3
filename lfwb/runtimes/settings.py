"""The settings a RuntimeManager and its backends work with, as one object.

    >>> from lfwb.runtimes import RuntimeManager, RuntimeSettings
    >>> manager = RuntimeManager(settings=RuntimeSettings(memory_budget_bytes=2 * 2**30))

The manager owns one `RuntimeSettings` and hands it to every model it registers, so a change
(`%config Lfwb...`, which `Lfwb.apply_to` copies here) reaches them all, and two managers in
one process never share a limit.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_BUDGET_FRACTION = 0.6


@dataclass
class RuntimeSettings:
    """Limits for one manager. None means "no explicit value" where a field allows it."""

    memory_budget_bytes: int | None = None  # None: a share of the RAM available when asked
    memory_budget_fraction: float = DEFAULT_BUDGET_FRACTION
    session_budget_usd: float | None = None  # what priced models may cost in this kernel
