"""The settings a RuntimeManager and its backends work with, as one object.

    >>> from lfwb.runtimes import RuntimeManager, RuntimeSettings
    >>> manager = RuntimeManager(settings=RuntimeSettings(memory_budget_bytes=2 * 2**30))
    >>> manager.settings.retry.max_attempts = 2            # every remote model of this manager

The manager owns one `RuntimeSettings` and hands it to every model it registers, so a change
(`%config Lfwb...`, which `Lfwb.apply_to` copies here) reaches them all at once, and two
managers in one process never share a limit, a price table or a key.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from .pricing import Prices

DEFAULT_BUDGET_FRACTION = 0.6


@dataclass
class RetryPolicy:
    """How hard to try. Per model through `options` (max_attempts, retry_base_s, retry_max_s)."""

    max_attempts: int = 4  # the first try included
    base_delay_s: float = 1.0  # the wait before the 2nd attempt; doubles after each one
    max_delay_s: float = 60.0  # a server asking for a longer wait ends the attempts now

    def with_options(self, options: dict) -> RetryPolicy:
        """This policy with a model's own options over it; ValueError for values that make no sense."""
        mapping = {"max_attempts": "max_attempts", "retry_base_s": "base_delay_s", "retry_max_s": "max_delay_s"}
        changes = {attr: type(getattr(self, attr))(options[key]) for key, attr in mapping.items() if key in options}
        policy = replace(self, **changes)
        if policy.max_attempts < 1 or policy.base_delay_s < 0 or policy.max_delay_s < 0:
            raise ValueError("max_attempts must be ≥ 1 and delays ≥ 0")
        return policy


@dataclass
class RuntimeSettings:
    """Limits, prices and keys for one manager and its models."""

    memory_budget_bytes: int | None = None  # None: a share of the RAM available when asked
    memory_budget_fraction: float = DEFAULT_BUDGET_FRACTION
    session_budget_usd: float | None = None  # what priced models may cost in this kernel
    retry: RetryPolicy = field(default_factory=RetryPolicy)  # a remote model's, unless its options differ
    prices: Prices = field(default_factory=Prices)
    # Keys given for this session (`%lfw key`), by provider or model name: in memory only, never saved.
    session_keys: dict[str, str] = field(default_factory=dict, repr=False)
