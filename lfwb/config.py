"""`%config Lfwb.NAME = VALUE`: the settings a user makes in IPython, checked as they are set.

    %config Lfwb.db_path = "work.db"        # switches the kernel's store now
    %config Lfwb.embeddings = False         # searches and --rag rank by words only (BM25)

A refused value keeps the old one (see `SettingRefused`); the Workbench reads the rest through
`apply_to` when it is made and on each change.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from traitlets import Bool, Float, Int, TraitError, Unicode, observe, validate
from traitlets.config import Configurable

from .errors import BadInput, LfwbError

if TYPE_CHECKING:
    from .runtimes import RuntimeManager
    from .workbench import Workbench


def current() -> Workbench | None:
    """The kernel's Workbench if one was made. lfwb/workbench.py replaces this function with its
    own `current` when imported: the settings reach the Workbench without importing the layer above."""
    return None


class SettingRefused(BadInput, TraitError):
    """A `%config Lfwb...` value lfwb refuses. Being a TraitError, traitlets puts the old value
    back (even inside %config, which holds notifications); IPython prints the one line."""

    def __init__(self, setting: str, message: str):
        super().__init__(f"Lfwb.{setting}: {message}")
        self.setting = setting


class Lfwb(Configurable):
    """Settings reachable with `%config Lfwb.NAME = VALUE` (or an IPython profile)."""

    db_path = Unicode("", help="The store file; default ./lfwb.db or $LFWB_DB.").tag(config=True)
    adopt_db = Bool(False, help="Let db_path add lfwb's tables to an existing SQLite file of another application.").tag(
        config=True
    )
    memory_budget_gb = Float(0.0, help="Memory budget for local models in GiB; 0 means a share of available RAM.").tag(
        config=True
    )

    session_budget_usd = Float(
        None,
        allow_none=True,
        help="USD this kernel may spend on priced (remote) models; None: no limit. See %lfw budget.",
    ).tag(config=True)
    prices_path = Unicode("", help="A JSON price table merged over the bundled one (also $LFWB_PRICES).").tag(
        config=True
    )
    max_attempts = Int(
        4, min=1, help="Tries per remote call, the first included (429, 5xx, timeouts are retried)."
    ).tag(config=True)
    embeddings = Bool(
        True,
        help="Rank by vectors too (all-MiniLM-L6-v2 on llama.cpp, made on first use): searches and --rag default "
        "to hybrid; False: BM25 only, and no model is loaded.",
    ).tag(config=True)

    def apply_to(self, manager: RuntimeManager) -> None:
        """Copy the settings made here into `manager.settings`, the one object its models read
        (at Workbench creation, and on each change)."""
        from .runtimes.pricing import Prices

        settings = manager.settings
        settings.memory_budget_bytes = int(self.memory_budget_gb * 2**30) if self.memory_budget_gb else None
        settings.session_budget_usd = self.session_budget_usd
        settings.retry.max_attempts = self.max_attempts
        settings.prices = Prices(self.prices_path)

    @validate("memory_budget_gb")
    def _check_memory_budget(self, proposal: dict) -> float:
        gb = proposal["value"]
        if not (math.isfinite(gb) and gb >= 0):
            raise SettingRefused("memory_budget_gb", f"a size in GiB ≥ 0 (0: a share of available RAM), got {gb}")
        return gb

    @validate("session_budget_usd")
    def _check_session_budget(self, proposal: dict) -> float | None:
        from .spending import check_limit

        try:
            return check_limit(proposal["value"])
        except BadInput as e:
            raise SettingRefused("session_budget_usd", str(e)) from None

    @validate("db_path")
    def _switch_store(self, proposal: dict) -> str:
        # The switch happens here, not in an observer: a path that cannot be opened is then
        # refused and the setting keeps the store in use (an observer runs after the value is set).
        path = proposal["value"]
        if not path:
            return path
        try:
            wb = current()
            if wb is not None:
                if Path(path).expanduser().resolve() != Path(wb.store.path).resolve():
                    wb.open_store(path, adopt=self.adopt_db)
            else:  # no Workbench yet: it opens this file when first used; check it opens now
                from .store import Store

                Store(path, adopt=self.adopt_db).close()
        except LfwbError as e:
            raise SettingRefused("db_path", str(e)) from None
        return path

    @validate("prices_path")
    def _check_prices_path(self, proposal: dict) -> str:
        from .runtimes.pricing import Prices

        try:
            Prices(proposal["value"])  # a missing or broken file: refused, the table in use stays
        except LfwbError as e:
            raise SettingRefused("prices_path", str(e)) from None
        return proposal["value"]

    @observe("memory_budget_gb", "session_budget_usd", "prices_path", "max_attempts")
    def _settings_changed(self, change: dict) -> None:
        wb = current()
        if wb is not None:
            self.apply_to(wb.manager)


def kernel_settings() -> Lfwb | None:
    """The kernel's `Lfwb` settings (`%config Lfwb...`), if lfwb is loaded in IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    ip = get_ipython()
    for c in getattr(ip, "configurables", []) if ip else []:
        if isinstance(c, Lfwb):
            return c
    return None
