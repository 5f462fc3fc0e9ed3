"""Live component previews: `%%lfw jsx` and `%lfw preview ARTIFACT_ID`."""

from __future__ import annotations

import json

from IPython.core.magic_arguments import argument, magic_arguments

from ..errors import BadInput, check_text
from .registry import Invocation, positive_int, subcommand


def _props(text: str | None) -> dict:
    if text is None:
        return {}
    try:
        props = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        why = getattr(e, "msg", "nested too deep")
        raise BadInput(f'--props needs a JSON object, e.g. --props \'{{"label": "Buy"}}\' ({why})') from None
    if not isinstance(props, dict):
        raise BadInput(f"--props needs a JSON object (names to values), got {type(props).__name__}")
    check_text(json.dumps(props, ensure_ascii=False), "--props")  # "\ud800" in JSON is one
    return props


def _height(value: int | None) -> int | None:
    if value is not None and not 40 <= value <= 4000:
        raise BadInput(f"--height is in pixels, between 40 and 4000; got {value}")
    return value


@subcommand("jsx", cell="required")
@magic_arguments("lfw jsx")
@argument("--props", metavar="JSON", help='initial props as a JSON object, e.g. \'{"label": "Buy"}\'')
@argument("--height", type=int, help="the frame's height in px (default: fits the component)")
@argument("--name", help="the artifact's name (default: the component's name)")
def jsx(ctx: Invocation, args):
    """Preview the cell's React component (JSX or TSX, its default export) live, with a control
    per prop, and keep it as an artifact. Returns the preview: `_.props = {...}` re-renders it.
    """
    from ..preview.widget import Preview

    props, height = _props(args.props), _height(args.height)
    source = (ctx.cell or "").strip("\n") + "\n"
    # Checked (and the frame built) before anything is kept: a refused component leaves no row.
    widget = Preview(source, props=props, height=height)
    widget.artifact = ctx.workbench.save_component(source, name=args.name, language=widget.language)
    return widget


@subcommand("preview")
@magic_arguments("lfw preview")
@argument("artifact_id", type=positive_int, help="a jsx/tsx artifact's id (see %%lfw artifacts)")
@argument("--props", metavar="JSON", help="initial props as a JSON object")
@argument("--height", type=int, help="the frame's height in px (default: fits the component)")
def preview(ctx: Invocation, args):
    """Preview a stored JSX/TSX artifact live. Returns the preview."""
    from ..preview.widget import Preview

    source, language = ctx.workbench.component_source(args.artifact_id)
    widget = Preview(source, props=_props(args.props), height=_height(args.height), language=language)
    widget.artifact = ctx.workbench.artifact(args.artifact_id)
    return widget
