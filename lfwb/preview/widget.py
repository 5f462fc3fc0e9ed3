"""The live preview: an anywidget that hosts the sandboxed frame, with a control per prop.

    >>> w = Preview("export default function C({label = 'Hi'}: {label?: string}) { return <b>{label}</b> }")
    >>> w                        # the frame, the controls beside it, and an error line under it
    >>> w.props = {"label": "Hello"}   # re-renders in place: the frame is not reloaded
    >>> w.status, w.error, w.height    # what the frame reported: ready / error (with its line) / px

The component never runs in this process or in the notebook page: the host code (`static/host.js`)
builds `<iframe sandbox="allow-scripts" srcdoc=...>` and relays props and reports by postMessage.
The same frame is also in the display as static `text/html`, so a saved notebook shows it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anywidget
import ipywidgets
import traitlets

from . import LANGUAGES, runtime
from .source import validate_source

if TYPE_CHECKING:
    from .props import PropSpec

_COLOR_HEX = ("#",)


class Preview(anywidget.AnyWidget):
    """A component's live preview. `source` and `props` may change; `status`, `error` and
    `height` are what the frame reports back."""

    _esm = traitlets.Unicode().tag(sync=True)
    _srcdoc = traitlets.Unicode().tag(sync=True)
    source = traitlets.Unicode()
    language = traitlets.Unicode("jsx")
    props = traitlets.Dict().tag(sync=True)
    height = traitlets.Int(runtime.STATIC_HEIGHT).tag(sync=True)
    fixed_height = traitlets.Bool(False).tag(sync=True)  # --height given: the frame keeps it
    status = traitlets.Unicode("loading").tag(sync=True)  # loading | ready | error
    error = traitlets.Unicode("").tag(sync=True)  # "SyntaxError (line 3): Unexpected token"
    artifact: dict | None = None  # the stored artifact this preview shows (%%lfw jsx, %lfw preview)

    @traitlets.default("_esm")
    def _host_code(self) -> str:
        return runtime.static_file("host.js")

    def __init__(
        self,
        source: str,
        props: dict | None = None,
        height: int | None = None,
        language: str | None = None,
        **kwargs: Any,
    ):
        validate_source(source)
        super().__init__(
            source=source,
            language=language or runtime.guess_language(source),
            props=dict(props or {}),
            height=height or runtime.STATIC_HEIGHT,
            fixed_height=height is not None,
            **kwargs,
        )
        self._srcdoc = self.page()
        self._controls = _Controls(self)
        self._error_line = ipywidgets.HTML()
        self.observe(self._show_error, names="error")

    def page(self) -> str:
        """The frame's document for the current source (props as they are now)."""
        return runtime.runtime_page(self.source, self.props, self.language)

    @traitlets.observe("source")
    def _source_changed(self, change: dict) -> None:
        if change["old"] and change["new"] != change["old"]:
            validate_source(change["new"])
            self.language = runtime.guess_language(change["new"])
            self._srcdoc = self.page()
            self._controls.rebuild()

    def _show_error(self, change: dict) -> None:
        # The frame shows the error too; this line is the Python side's copy of it.
        import html

        text = change["new"]
        self._error_line.value = (
            f'<span style="color:#b00020;font-family:monospace">⚠ {html.escape(text)}</span>' if text else ""
        )

    @property
    def panel(self) -> ipywidgets.Widget:
        """What is displayed: the frame and its error line, the controls beside them."""
        left = ipywidgets.VBox([self, self._error_line], layout=ipywidgets.Layout(flex="1 1 auto", width="100%"))
        if not self._controls.box.children:
            return left
        return ipywidgets.HBox([left, self._controls.box], layout=ipywidgets.Layout(width="100%"))

    def static_html(self) -> str:
        return runtime.iframe_html(self.page(), self.height if self.fixed_height else None)

    def _repr_mimebundle_(self, **kwargs: Any):
        bundle = self.panel._repr_mimebundle_(**kwargs)
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle, {})
        data = {**data, "text/html": self.static_html(), "text/plain": repr(self)}
        return data, metadata

    def __repr__(self) -> str:
        return f"<Preview {self.language} status={self.status}{' error=' + repr(self.error) if self.error else ''}>"


def previews(artifacts: list[dict]) -> list[Preview]:
    """A live preview of each JSX/TSX artifact (a pipeline run's, say); one the preview would
    refuse (a disallowed import, no default export) is left out: its code is still listed."""
    from ..errors import PreviewRefused

    shown = []
    for row in artifacts:
        if row.get("kind") in LANGUAGES:
            try:
                preview = Preview(row["content"], language=row["kind"])
            except PreviewRefused:
                continue
            preview.artifact = row
            shown.append(preview)
    return shown


class _Controls:
    """ipywidgets generated from the component's props; a change sets `preview.props`."""

    def __init__(self, preview: Preview):
        self.preview = preview
        self.box = ipywidgets.VBox(layout=ipywidgets.Layout(width="280px", flex="0 0 auto"))
        self.widgets: dict[str, ipywidgets.ValueWidget] = {}
        self._syncing = False
        preview.observe(self._props_changed, names="props")
        self.rebuild()

    def rebuild(self) -> None:
        from .props import extract_props

        self.widgets = {}
        for spec in extract_props(self.preview.source):
            value = self.preview.props.get(spec.name, spec.default)
            widget = _control(spec, value)
            if widget is None:
                continue
            widget.observe(lambda change, name=spec.name: self._control_changed(name, change["new"]), names="value")
            self.widgets[spec.name] = widget
        self.box.children = list(self.widgets.values())

    def _control_changed(self, name: str, value: Any) -> None:
        if not self._syncing:
            self.preview.props = {**self.preview.props, name: value}

    def _props_changed(self, change: dict) -> None:
        # `w.props = {...}` from Python: the controls follow, without echoing back.
        self._syncing = True
        try:
            for name, value in change["new"].items():
                widget = self.widgets.get(name)
                if widget is not None and widget.value != value:
                    try:
                        widget.value = value
                    except traitlets.TraitError:
                        pass  # a value the control cannot show (e.g. an option it lacks) still reaches the frame
        finally:
            self._syncing = False


def _control(spec: PropSpec, value: Any) -> ipywidgets.ValueWidget | None:
    label = spec.title or spec.name
    common = {"description": label, "style": {"description_width": "90px"}, "layout": ipywidgets.Layout(width="270px")}
    if spec.kind == "boolean":
        return ipywidgets.Checkbox(value=bool(value), indent=False, **common)
    if spec.kind == "number":
        number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else 0
        # Whole numbers stay whole: a count of 3 should not reach the component as 3.0.
        whole = all(
            isinstance(v, int) or (isinstance(v, float) and v.is_integer())
            for v in (number, spec.min, spec.max, spec.step)
            if v is not None
        )
        if spec.min is not None and spec.max is not None:
            slider = ipywidgets.IntSlider if whole else ipywidgets.FloatSlider
            kind = int if whole else float
            return slider(
                value=kind(number), min=kind(spec.min), max=kind(spec.max), step=kind(spec.step or 1), **common
            )
        return (
            ipywidgets.IntText(value=int(number), **common)
            if whole
            else ipywidgets.FloatText(value=number, step=spec.step or 1, **common)
        )
    if spec.kind == "enum" and spec.options:
        options = list(spec.options)
        return ipywidgets.Dropdown(options=options, value=value if value in options else options[0], **common)
    if spec.kind == "color" and isinstance(value, str) and value.startswith(_COLOR_HEX) and len(value) in (4, 7):
        return ipywidgets.ColorPicker(value=value, concise=False, **common)
    if spec.kind in ("string", "color", "enum"):
        return ipywidgets.Text(value="" if value is None else str(value), **common)
    return None
