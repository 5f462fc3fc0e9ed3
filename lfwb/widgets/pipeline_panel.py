"""`%lfw panel pipeline`: pick a pipeline and an input, run it, follow its steps, stop it.

    from lfwb.widgets.pipeline_panel import PipelinePanel
    PipelinePanel(lfwb.workbench())

Run calls `Workbench.run_pipeline` — what `%lfw run` calls — on a thread of its own, so the
kernel stays free and Stop can set the run's `cancel` event (the executor's stop: each running
step keeps its text). A row per step shows its status and tokens against its `max_tokens`, and
under it the step's text as it streams; when the run has ended, its timeline
(`lfwb/pipelines/timeline.py`), its artifacts and their previews appear below. A new run
replaces the last one's rows, timeline and previews (the previews are closed, not piled up).
Widget values are set from the run's thread: a trait set is sent to the front end as it happens.
"""

from __future__ import annotations

import html
import io
from typing import TYPE_CHECKING

import ipywidgets as widgets

from ..errors import LfwbError
from ..runtimes.base import DEFAULT_MAX_TOKENS  # a step without `max_tokens` is capped there
from ..untrusted import NO_MATH, answer_html, text_html

if TYPE_CHECKING:
    from ..handles import Handle
    from ..pipelines.result import PipelineResult, StepResult
    from ..workbench import Workbench
STYLES = {
    "done": "success",
    "reused": "info",
    "cached": "info",
    "failed": "danger",
    "cancelled": "warning",
    "skipped": "warning",
}


class _StepRow:
    """One step's line — name, status (model, tokens, seconds), tokens against its cap — and its
    text under it, as it streams (Markdown once the step has ended)."""

    def __init__(self, name: str, max_tokens: int):
        self.name = widgets.HTML(f"<b>{html.escape(name)}</b>", layout=widgets.Layout(width="160px"))
        # HTML, not a Label: a Label is typeset by MathJax, and the status can hold an error's text.
        self.status = widgets.HTML(text_html("pending"), layout=widgets.Layout(width="420px"))
        self.progress = widgets.IntProgress(value=0, min=0, max=max_tokens, layout=widgets.Layout(width="200px"))
        # A long answer scrolls inside its own box: the rows below it stay in sight.
        self.text = widgets.HTML(layout=widgets.Layout(max_height="16em", overflow="auto", margin="0 0 0.5em 160px"))
        self.box = widgets.VBox([widgets.HBox([self.name, self.status, self.progress]), self.text])
        self._shown: tuple[str, bool] = ("", False)

    def show(self, step: StepResult, now: float | None) -> None:
        self.status.value = text_html(step.header(now).split(" · ", 1)[-1])  # the name is already on the row
        ended = step.status in STYLES
        if (step.text, ended) != self._shown:  # redraw only what changed: the executor calls often
            self._shown = (step.text, ended)
            self.text.value = answer_html(step.text) if ended and step.text else text_html(step.text)
        self.progress.value = (
            self.progress.max
            if step.status in ("done", "reused", "cached")
            else min(step.output_tokens or 0, self.progress.max)
        )
        self.progress.bar_style = STYLES.get(step.status, "") if ended else ""


class PipelinePanel(widgets.VBox):
    """The pipeline panel. `run()` and `stop()` are what the buttons call; `thread` is the run's."""

    def __init__(self, workbench: Workbench, namespace: dict | None = None):
        self.workbench, self.namespace = workbench, namespace
        names = [row["name"] for row in workbench.pipelines()]
        self.choice = widgets.Dropdown(options=names, value=names[0] if names else None, description="pipeline")
        self.input = widgets.Textarea(
            placeholder="the text that fills {input}",
            description="input",
            layout=widgets.Layout(width="640px", height="80px"),
        )
        self.run_button = widgets.Button(description="Run", icon="play", button_style="primary")
        self.stop_button = widgets.Button(description="Stop", icon="stop", button_style="danger", disabled=True)
        self.run_button.on_click(lambda _: self.run())
        self.stop_button.on_click(lambda _: self.stop())
        self.message = widgets.HTML()
        self.steps = widgets.VBox()
        self.timeline = widgets.Image(format="png", layout=widgets.Layout(display="none"))
        self.artifacts = widgets.HTML()
        self.previews = widgets.VBox()  # the last run's live previews, one per component it wrote
        self.rows: dict[str, _StepRow] = {}
        self.result: PipelineResult | None = None  # the last run's
        self.handle: Handle[PipelineResult] | None = None  # the run in progress's (lfwb/handles.py)
        super().__init__(
            [
                widgets.HBox([self.choice, self.run_button, self.stop_button]),
                self.input,
                self.message,
                self.steps,
                self.timeline,
                self.artifacts,
                self.previews,
            ]
        )

    def run(self) -> None:
        """Start the chosen pipeline on the input, on a thread; a second press while it runs does nothing."""
        if self.handle is not None and not self.handle.done:
            return
        if not self.choice.value:
            self._say("no pipelines: save one with %%lfw pipeline NAME")
            return
        try:
            spec = self.workbench.pipeline(self.choice.value)
        except LfwbError as e:
            self._say(f"{type(e).__name__}: {e}")
            return
        self.rows = {
            s.name: _StepRow(s.name, int(s.settings.get("max_tokens") or DEFAULT_MAX_TOKENS)) for s in spec.order()
        }
        _clear(self.steps)  # the last run's rows and previews: their widgets would live on in the kernel
        _clear(self.previews)
        self.steps.children = [row.box for row in self.rows.values()]
        self.message.value, self.artifacts.value, self.result = "", "", None
        self.timeline.layout.display = "none"
        self.run_button.disabled, self.stop_button.disabled = True, False
        handle = self.handle = self.workbench.start_pipeline(
            self.choice.value, self.input.value, namespace=self.namespace, on_update=self._show
        )
        handle.on_done(lambda: self._ended(handle))

    def stop(self) -> None:
        """Cancel the run: every running step stops and keeps its text, the others are not started."""
        if self.handle is not None:
            self.handle.cancel()

    def _ended(self, handle: Handle[PipelineResult]) -> None:
        try:
            result = self.result = handle.result()
            self._say(handle.cancelled_line or result.summary(), ok=result.status == "done")
        except Exception as e:  # a fault in the definition (nothing ran) or worse: a thread's error would go nowhere
            self._say(f"{type(e).__name__}: {e}")
        finally:
            if self.result is not None:
                self._show(self.result, final=True)
                self._show_after(self.result)
            self.run_button.disabled, self.stop_button.disabled = False, True

    def _show(self, result: PipelineResult, final: bool = False) -> None:
        import time

        now = None if final else time.perf_counter()
        for name, step in result.steps.items():
            if name not in self.rows:  # a definition changed since the rows were made
                self.rows[name] = _StepRow(name, DEFAULT_MAX_TOKENS)
                self.steps.children = [*self.steps.children, self.rows[name].box]
            self.rows[name].show(step, now)

    def _show_after(self, result: PipelineResult) -> None:
        """The run's timeline as a PNG and its artifacts, each with a preview."""
        from ..pipelines.timeline import timeline_figure
        from ..preview import LANGUAGES

        figure = timeline_figure(self.workbench.timeline(result.run_id), title=f"pipeline run {result.run_id}")
        png = io.BytesIO()
        figure.savefig(png, format="png")
        self.timeline.value = png.getvalue()
        self.timeline.layout.display = ""
        items = []
        for a in result.artifacts:
            name = a["filename"] or f"artifact {a['id']}"
            items.append(
                f"<details><summary><code>{html.escape(name)}</code> · {html.escape(a['kind'])} · "
                f"{len(a['content'].splitlines())} lines</summary><pre>{html.escape(a['content'])}</pre></details>"
            )
        self.artifacts.value = f"<div class='{NO_MATH}'>{''.join(items)}</div>" if items else "<i>no artifacts</i>"
        if any(a["kind"] in LANGUAGES for a in result.artifacts):
            from ..preview.widget import previews

            self.previews.children = [p.panel for p in previews(result.artifacts)]

    def _say(self, line: str, ok: bool = False) -> None:
        colour = "#060" if ok else "#b00"
        self.message.value = text_html(line, style=f"color:{colour}")


def _clear(box: widgets.Box) -> None:
    """Close every widget inside `box` and empty it."""
    for child in box.children:
        for widget in _tree(child):
            widget.close()
    box.children = []


def _tree(widget: widgets.Widget):
    """A widget and every widget inside it, innermost first."""
    for child in getattr(widget, "children", ()):
        yield from _tree(child)
    yield widget
