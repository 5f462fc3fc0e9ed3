"""MkDocs hooks: the reference pages are generated from the code when the site is built.

- reference/magics.md: every subcommand's own `%lfw SUB --help` text (tests/test_docs_reference.py
  compares the page with what the magic prints);
- reference/python.md: the public Python API, from signatures and docstrings;
- reference/http.md and reference/openapi.json: the FastAPI app's OpenAPI schema (offline:
  the app is made over a Workbench on a store in a temporary folder, and nothing is served);
- `<!-- lfwb:settings -->` and `<!-- lfwb:errors -->` in a page become the `%config Lfwb.*`
  table and the error classes, read from lfwb/config.py and lfwb/errors.py.

A guide another helper writes may not exist yet: nav entries under `guide/` whose page is
missing are dropped instead of failing the strict build.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `mkdocs build` from a checkout where lfwb is not installed
    sys.path.insert(0, str(ROOT))

GENERATED = "Generated from the code when the site is built — do not edit."


# -- the magic reference ------------------------------------------------------------------------


def magic_help() -> dict[str, str]:
    """Subcommand name → the text `%lfw NAME --help` prints."""
    from lfwb.magics import SUBCOMMANDS

    return {name: SUBCOMMANDS[name].usage for name in sorted(SUBCOMMANDS)}


def magic_reference() -> str:
    from lfwb.magics import SUBCOMMANDS

    lines = [
        "# Magic reference",
        "",
        f"Every `%lfw` subcommand, with the text `%lfw SUB --help` prints. {GENERATED}",
        "",
        "| subcommand | what it does |",
        "|---|---|",
    ]
    for name in sorted(SUBCOMMANDS):
        sub = SUBCOMMANDS[name]
        prefix = "%%lfw" if sub.cell == "required" else "%lfw"
        summary = sub.summary.replace("|", "\\|")
        lines.append(f"| [`{prefix} {name}`](#{_anchor(name)}) | {summary} |")
    for name, usage in magic_help().items():
        prefix = "%%lfw" if SUBCOMMANDS[name].cell == "required" else "%lfw"
        lines += ["", f"## `{prefix} {name}` {{#{_anchor(name)}}}", "", "```text", usage, "```"]
    return "\n".join(lines) + "\n"


def _anchor(name: str) -> str:
    return "lfw-" + name.replace(" ", "-")


# -- the Python API -----------------------------------------------------------------------------


def _doc(obj) -> str:
    return inspect.getdoc(obj) or ""


class _Shown:
    """An annotation written as the source writes it (they are strings under `from __future__
    import annotations`; inspect would quote them)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _signature(name: str, obj) -> str:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return name
    params = [p for p in sig.parameters.values() if p.name not in ("self", "cls")]
    params = [p.replace(annotation=_Shown(p.annotation)) if isinstance(p.annotation, str) else p for p in params]
    returns = sig.return_annotation
    sig = sig.replace(parameters=params, return_annotation=_Shown(returns) if isinstance(returns, str) else returns)
    return f"{name}{sig}"


def _entry(title: str, obj, level: str = "###") -> list[str]:
    """A heading with the name, the signature as code, then the docstring."""
    short = title.split("(")[0]
    lines = [f"{level} `{short}`", ""]
    if "(" in title:
        lines += ["```python", title, "```", ""]
    doc = _doc(obj)
    if doc:
        lines += ["```text", doc, "```"] if _preformatted(doc) else [doc]
    return lines + [""]


def _preformatted(doc: str) -> bool:
    # A docstring with an indented example block reads best as it is in the source.
    return any(line.startswith("    ") for line in doc.splitlines())


def _methods(cls) -> list[tuple[str, object]]:
    out = []
    for name, value in inspect.getmembers(cls):
        if name.startswith("_"):
            continue
        if callable(value) or isinstance(value, property):
            out.append((name, value))
    return out


# The Workbench's parts (its mixins), in the order a reader meets them.
_PARTS = {
    "lfwb.workbench": "The workbench",
    "lfwb.workbench_models": "Models",
    "lfwb.workbench_records": "Projects, contexts, runs, artifacts and chat",
    "lfwb.workbench_pipelines": "Pipelines",
    "lfwb.workbench_evals": "Evals",
}


def python_reference() -> str:
    import lfwb
    from lfwb.chat.session import ChatReply, ChatSession
    from lfwb.handles import Handle
    from lfwb.preview import preview
    from lfwb.runs import RunResult
    from lfwb.runtimes import ModelConfig
    from lfwb.store import Store

    lines = [
        "# Python API",
        "",
        f"The magics and the panels call these objects; a script or a test can call them directly. {GENERATED}",
        "",
        "```python",
        "import lfwb",
        "wb = lfwb.workbench()    # the kernel's one Workbench, shared with %lfw",
        "```",
        "",
    ]
    lines += _entry("lfwb.workbench()", lfwb.workbench, "##")
    lines += ["## `Workbench`", "", _doc(lfwb.Workbench), ""]
    groups: dict[str, list[str]] = {}
    for name, method in _methods(lfwb.Workbench):
        target = method.fget if isinstance(method, property) else method
        title = f"wb.{name}" if isinstance(method, property) else f"wb.{_signature(name, target)}"
        part = _PARTS.get(getattr(target, "__module__", ""), "Other")
        groups.setdefault(part, []).extend(_entry(title, target, "####"))
    for part in [*_PARTS.values(), "Other"]:
        if part in groups:
            lines += [f"### {part}", "", *groups[part]]
    for title, cls in (
        ("RunResult", RunResult),
        ("Handle", Handle),
        ("ChatSession", ChatSession),
        ("ChatReply", ChatReply),
        ("ModelConfig", ModelConfig),
    ):
        lines += [f"## `{title}`", "", _doc(cls), ""]
        if dataclasses.is_dataclass(cls):
            lines += ["| field | type |", "|---|---|"]
            lines += [f"| `{f.name}` | `{f.type}` |" for f in dataclasses.fields(cls) if not f.name.startswith("_")]
            lines.append("")
        for name, method in _methods(cls):
            if isinstance(method, property):
                lines += _entry(f"{title}.{name}", method.fget)
            elif _doc(method) and not name.startswith("model_"):
                lines += _entry(f"{title}.{_signature(name, method)}", method)
    lines += _entry(_signature("lfwb.preview.preview", preview), preview, "##")
    lines += ["## `Store`", "", _doc(Store), ""]
    for name, method in _methods(Store):
        if _doc(method):
            lines += _entry(f"Store.{_signature(name, method)}", method)
    return "\n".join(lines) + "\n"


# -- the HTTP API -------------------------------------------------------------------------------


def openapi_schema() -> dict:
    """The server's OpenAPI schema, from the app itself over a throwaway store."""
    from lfwb.server.app import create_app
    from lfwb.workbench import Workbench

    with tempfile.TemporaryDirectory() as folder:
        wb = Workbench(str(Path(folder) / "docs.db"))
        try:
            return create_app(wb).openapi()
        finally:
            wb.close()


def http_reference(schema: dict) -> str:
    lines = [
        "# HTTP API",
        "",
        f"`lfwb serve` (or `%lfw serve`) answers these routes. {GENERATED} The schema as JSON: "
        "[openapi.json](openapi.json); a running server shows it at `/docs`. How to run and secure "
        "the server: [Serving over HTTP](../guide/serve.md).",
        "",
        schema.get("info", {}).get("description", ""),
        "",
        "| method | path | what it does |",
        "|---|---|---|",
    ]
    ops = []
    for path, item in schema["paths"].items():
        for method, op in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                ops.append((path, method, op))
    for path, method, op in ops:
        summary = (op.get("summary") or "").replace("|", "\\|")
        lines.append(f"| `{method.upper()}` | [`{path}`](#{_op_anchor(method, path)}) | {summary} |")
    for path, method, op in ops:
        lines += ["", f"## `{method.upper()} {path}` {{#{_op_anchor(method, path)}}}", ""]
        if op.get("description"):
            lines += [op["description"], ""]
        params = op.get("parameters") or []
        if params:
            lines += ["| parameter | in | type | required |", "|---|---|---|---|"]
            for p in params:
                kind = _type(p.get("schema", {}), schema)
                lines.append(f"| `{p['name']}` | {p['in']} | {kind} | {'yes' if p.get('required') else 'no'} |")
            lines.append("")
        body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        if body:
            lines += [f"Body: {_type(body, schema)}", ""]
            lines += _fields(body, schema)
        answers = [f"`{code}`" for code in op.get("responses", {})]
        ok = op.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {}).get("schema")
        if ok:
            lines += [f"Returns: {_type(ok, schema)}", ""]
        if answers:
            lines += ["Answers: " + ", ".join(answers), ""]
    lines += ["## Schemas", ""]
    for name, model in sorted(schema.get("components", {}).get("schemas", {}).items()):
        lines += [f"### `{name}`", ""]
        if model.get("description"):
            lines += [" ".join(model["description"].split()), ""]
        lines += _fields({"$ref": f"#/components/schemas/{name}"}, schema)
    return "\n".join(lines) + "\n"


def _op_anchor(method: str, path: str) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in path).strip("-")
    return f"{method}-{slug}".lower()


def _resolve(node: dict, schema: dict) -> dict:
    ref = node.get("$ref")
    if ref:
        return schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return node


def _type(node: dict, schema: dict) -> str:
    if "$ref" in node:
        return f"`{node['$ref'].rsplit('/', 1)[1]}`"
    if "anyOf" in node:
        return " or ".join(_type(n, schema) for n in node["anyOf"])
    if node.get("type") == "array":
        return f"list of {_type(node.get('items', {}), schema)}"
    return f"`{node.get('type', 'any')}`"


def _fields(body: dict, schema: dict) -> list[str]:
    model = _resolve(body, schema)
    props = model.get("properties") or {}
    if not props:
        return []
    required = set(model.get("required") or [])
    lines = ["| field | type | required | about |", "|---|---|---|---|"]
    for name, prop in props.items():
        about = (prop.get("description") or "").replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{name}` | {_type(prop, schema)} | {'yes' if name in required else 'no'} | {about} |")
    return lines + [""]


# -- tables put into hand-written pages ---------------------------------------------------------


def settings_table() -> str:
    from lfwb.config import Lfwb

    lines = ["| setting | default | what it does |", "|---|---|---|"]
    for name, trait in sorted(Lfwb.class_traits(config=True).items()):
        default = trait.default()
        shown = '""' if default == "" else repr(default)
        lines.append(f"| `Lfwb.{name}` | `{shown}` | {trait.help} |")
    return "\n".join(lines)


def errors_table() -> str:
    from lfwb import errors

    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.LfwbError)]
    lines = ["| error | is a | means | the notebook adds |", "|---|---|---|---|"]
    for cls in classes:
        parents = ", ".join(b.__name__ for b in cls.__bases__ if b.__module__ == errors.__name__)
        about = " ".join(_doc(cls).split())
        hint = vars(cls).get("hint") or ""  # its own, not its parent's
        if isinstance(hint, dict):
            hints = list(hint.values())
            hint = "; ".join(hints) if len(hints) <= 3 else f"a hint per case, e.g. {hints[0]}"
        lines.append(f"| `{cls.__name__}` | {parents and f'`{parents}`'} | {about} | {hint} |")
    return "\n".join(lines)


# -- the hooks ----------------------------------------------------------------------------------

_OPTIONAL = "guide/"  # nav entries a page of which may not exist yet


def on_config(config):
    docs = Path(config["docs_dir"])
    config["nav"] = _present(config["nav"], docs)
    return config


def _present(nav, docs: Path):
    out = []
    for item in nav:
        if isinstance(item, dict):
            ((title, value),) = item.items()
            if isinstance(value, list):
                out.append({title: _present(value, docs)})
            elif isinstance(value, str) and value.startswith(_OPTIONAL) and not (docs / value).exists():
                continue
            else:
                out.append(item)
        else:
            out.append(item)
    return out


def on_files(files, config):
    from mkdocs.structure.files import File

    schema = openapi_schema()
    pages = {
        "reference/magics.md": magic_reference(),
        "reference/python.md": python_reference(),
        "reference/http.md": http_reference(schema),
        "reference/openapi.json": json.dumps(schema, indent=1),
    }
    for path, content in pages.items():
        files.append(File.generated(config, path, content=content))
    return files


def on_page_markdown(markdown, page, config, files):
    if "<!-- lfwb:settings -->" in markdown:
        markdown = markdown.replace("<!-- lfwb:settings -->", settings_table())
    if "<!-- lfwb:errors -->" in markdown:
        markdown = markdown.replace("<!-- lfwb:errors -->", errors_table())
    return markdown
