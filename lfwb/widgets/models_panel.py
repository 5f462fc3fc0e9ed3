"""`%lfw panel models`: the registered models, load/unload buttons, memory against the budget.

    from lfwb.widgets.models_panel import ModelsPanel
    ModelsPanel(lfwb.workbench())

The panel listens to the models (loads, unloads, finished generations), so it stays current
while cells run; every button calls the same Workbench method as the matching magic.
"""

from __future__ import annotations

import html
import threading
from typing import TYPE_CHECKING

import ipywidgets as widgets

from ..errors import LfwbError
from ..runtimes import format_bytes

if TYPE_CHECKING:
    from ..workbench import Workbench


class _ModelRow:
    """One model's line: name, state, stats, a progress bar while loading, a load/unload button."""

    def __init__(self, panel: ModelsPanel, name: str, runtime: str):
        self.name = name
        self.label = widgets.HTML(
            f"<b>{html.escape(name)}</b> <small>{html.escape(runtime)}</small>", layout=widgets.Layout(width="180px")
        )
        # At least these widths (the rows line up), wider when the text needs it: a Label cuts what
        # does not fit ("loaded · 202.8 M…"), so its width follows its text.
        self.state = widgets.Label(layout=widgets.Layout(min_width="140px", width="auto"))
        self.stats = widgets.Label(layout=widgets.Layout(min_width="200px", width="auto"))
        self.progress = widgets.FloatProgress(min=0.0, max=1.0, layout=widgets.Layout(width="100px"))
        self.button = widgets.Button(layout=widgets.Layout(width="80px"))
        self.button.on_click(lambda _: panel.toggle(name))
        # A narrow notebook wraps the row rather than cut it.
        self.box = widgets.HBox(
            [self.label, self.state, self.button, self.progress, self.stats],
            layout=widgets.Layout(flex_flow="row wrap"),
        )

    def close(self) -> None:
        """Close the row's widgets, their layouts and styles too: closing a box closes none of what
        it holds, and each stays in ipywidgets' registry (and the front end) until closed."""
        for widget in (*self.box.children, self.box):
            for part in (getattr(widget, "layout", None), getattr(widget, "style", None), widget):
                if part is not None:
                    part.close()

    def show(self, row: dict) -> None:
        loading = row["loading"] is not None
        self.progress.value = row["loading"] or 0.0
        self.progress.layout.visibility = "visible" if loading else "hidden"
        if loading:
            self.state.value = f"loading {row['loading']:.0%}"
        else:
            self.state.value = f"loaded · {format_bytes(row['bytes'])}" if row["loaded"] else "not loaded"
        parts = [f"{row['runs']} run{'' if row['runs'] == 1 else 's'}", f"{row['tokens_out']} tokens"]
        if row["last_tok_s"] is not None:
            parts.append(f"{row['last_tok_s']} tok/s")
        if row["load_s"] is not None:
            parts.append(f"loaded in {row['load_s']} s")
        self.stats.value = " · ".join(parts)
        self.button.description = "Unload" if row["loaded"] else ("Loading…" if loading else "Load")
        self.button.button_style = "warning" if row["loaded"] else "primary"
        self.button.disabled = loading


class ModelsPanel(widgets.VBox):
    """The models panel; `refresh()` redraws it, the models' events call it for you."""

    def __init__(self, workbench: Workbench):
        self.workbench = workbench
        self.memory = widgets.FloatProgress(
            min=0.0, max=1.0, description="memory", layout=widgets.Layout(width="320px")
        )
        self.memory_label = widgets.Label()
        self.message = widgets.HTML()
        refresh = widgets.Button(description="Refresh", icon="refresh", layout=widgets.Layout(width="100px"))
        refresh.on_click(lambda _: self.refresh())
        self.table = widgets.VBox()
        self.rows: dict[str, _ModelRow] = {}
        self._lock = threading.RLock()  # events arrive from generation threads too
        top = widgets.HBox([self.memory, self.memory_label, refresh], layout=widgets.Layout(flex_flow="row wrap"))
        super().__init__([top, self.table, self.message])
        self._unsubscribe = workbench.on_model_event(self._on_event)
        self.refresh()

    def toggle(self, name: str) -> None:
        """The button: load the model if it is not loaded, else unload it."""
        self.message.value = ""
        try:
            if name in self._loaded():
                self.workbench.unload_model(name)
            else:
                self.workbench.load_model(name)
        except LfwbError as e:
            self.message.value = (
                f"<span style='color:#b00'>{html.escape(type(e).__name__)}</span>: {html.escape(str(e))}"
            )
        self.refresh()

    def _loaded(self) -> set[str]:
        return {r["name"] for r in self.workbench.models() if r["loaded"]}

    def _on_event(self, event: str, name: str) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Redraw from the models: rows, states, stats and the memory bar."""
        with self._lock:
            stats = self.workbench.model_stats()
            runtimes = {r["name"]: r["runtime"] for r in self.workbench.models()}
            names = [r["name"] for r in stats["models"]]
            for name in names:
                if name not in self.rows:
                    self.rows[name] = _ModelRow(self, name, runtimes.get(name, ""))
            for name in set(self.rows) - set(names):
                self.rows.pop(name).close()
            boxes = [self.rows[n].box for n in names]
            if boxes != list(self.table.children):
                self.table.children = boxes
            for row in stats["models"]:
                self.rows[row["name"]].show(row)
            used, budget = stats["used_bytes"], max(stats["budget_bytes"], 1)
            self.memory.value = min(used / budget, 1.0)
            self.memory.bar_style = (
                "success" if used < 0.7 * budget else ("warning" if used < 0.9 * budget else "danger")
            )
            self.memory_label.value = (
                f"{format_bytes(used)} of {format_bytes(budget)} budget · process {format_bytes(stats['rss_bytes'])}"
            )

    def close(self) -> None:
        self._unsubscribe()
        for row in self.rows.values():
            row.close()
        super().close()
