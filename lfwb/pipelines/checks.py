"""What a step's answer must pass: its `schema:` and its `check:`, each failure one line.

    check: jsx                              # the preview's own validator (imports, a default export, syntax)
    check: tsx
    check: json                             # parses as JSON
    check: python                           # compiles (nothing is run)
    check: {regex: "export default function"}   # the answer holds a match (re.search, multiline)

A code check reads the answer's code: its first fenced block of the check's language (a block
without a language counts), or the whole answer when it has no fence at all. A regex reads the
whole answer. With `retries: N`, a failed check asks again (`retry_prompt`), up to N more times.
The code a check passed is an artifact of the check's kind (`labelled`), even when the model
gave its fence no language or wrote no fence.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..errors import BadInput, LfwbError
from .artifacts import Artifact, extract_artifacts

CHECKS = ("jsx", "tsx", "json", "python")
MAX_RETRIES = 10  # each retry is a whole generation: more than a few is a prompt to rethink
# The artifact kinds a check's code may come in ("text": a fence without a language).
_KINDS = {
    "jsx": ("jsx", "tsx", "js", "ts"),
    "tsx": ("tsx", "ts", "jsx", "js"),
    "json": ("json",),
    "python": ("python",),
}
RETRY_NOTE = "Your last answer was refused: {error}\nAnswer again, with that fixed."


@dataclass(frozen=True)
class Check:
    """A `check:` as parsed: one of CHECKS, or "regex" with its `pattern`."""

    name: str
    pattern: str | None = None

    @property
    def written(self) -> str | dict:
        """As a definition writes it."""
        return {"regex": self.pattern} if self.name == "regex" else self.name

    def error(self, text: str) -> str | None:
        """Why `text` fails this check, in one line; None when it passes."""
        if self.name == "regex":
            if re.search(self.pattern or "", text, re.MULTILINE):
                return None
            return f"the answer does not match the pattern {self.pattern!r}"
        found = _code(text, self.name)
        if isinstance(found, _Missing):
            return found.line
        code = found[1].content
        if self.name == "json":
            try:
                json.loads(code)
            except ValueError as e:
                line = f" (line {e.lineno}, column {e.colno})" if isinstance(e, json.JSONDecodeError) else ""
                return f"the answer is not JSON: {getattr(e, 'msg', e)}{line}"
            return None
        if self.name == "python":
            try:
                compile(code, "<answer>", "exec", dont_inherit=True)
            except SyntaxError as e:
                return f"the answer's Python does not compile: {e.msg} (line {e.lineno})"
            except (ValueError, RecursionError, MemoryError) as e:  # a NUL byte, nesting too deep
                return f"the answer's Python does not compile: {e}"
            return None
        from ..preview.source import validate_source

        try:
            validate_source(code, "the component")
        except LfwbError as e:  # PreviewRefused: one line with its line number
            return str(e)
        return None

    def labelled(self, text: str) -> list[Artifact]:
        """`text`'s artifacts, the code this check read (and passed) taking its kind."""
        blocks = extract_artifacts(text)
        found = _code(text, self.name) if self.name in CHECKS else None
        if found is None or isinstance(found, _Missing) or found[1].kind != "text":
            return blocks  # a block the model gave a language keeps it
        at, code = found
        labelled = replace(code, kind=self.name)
        return [*blocks[:at], labelled, *blocks[at + 1 :]] if at < len(blocks) else [labelled]


@dataclass(frozen=True)
class _Missing:
    line: str


def _code(text: str, check: str) -> tuple[int, Artifact] | _Missing:
    """The code `check` reads in `text` and its index among the answer's blocks (past them: the
    whole answer, which has none)."""
    blocks = extract_artifacts(text)
    if not blocks:
        return 0, Artifact(text.strip() + "\n", "text", None, None, line=1)
    for i, block in enumerate(blocks):
        if block.kind in _KINDS[check] or block.kind == "text":
            return i, block
    kinds = ", ".join(dict.fromkeys(b.kind for b in blocks))
    return _Missing(f"the answer has no ```{check} code block (it has {kinds})")


def parse_check(value: Any) -> Check:
    """`check:` as written → a Check; `BadInput` (one line) for one that is not known."""
    if isinstance(value, Mapping) and list(value) == ["regex"]:
        pattern = value["regex"]
        if not isinstance(pattern, str) or not pattern:
            raise BadInput(f"`check: {{regex: ...}}` takes a non-empty pattern, got {pattern!r}")
        try:
            re.compile(pattern)
        except re.error as e:
            raise BadInput(f"`check:` regex {pattern!r} does not compile: {e}") from None
        return Check("regex", pattern)
    if isinstance(value, str) and value in CHECKS:
        return Check(value)
    close = difflib.get_close_matches(value, CHECKS, n=1) if isinstance(value, str) else []
    hint = f" — did you mean {close[0]!r}?" if close else ""
    raise BadInput(f"`check:` {value!r} is not a check — use {', '.join(CHECKS)} or {{regex: PATTERN}}{hint}")


def parse_retries(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_RETRIES:
        return value
    raise BadInput(f"`retries:` must be a whole number from 0 to {MAX_RETRIES}, got {value!r}")


def read_answer(text: str, schema: Any, check: Check | None) -> tuple[str | None, Any]:
    """(why the answer is refused or None, its parsed value under `schema` or None)."""
    data = None
    if schema is not None:
        try:
            data = schema.parse(text)
        except LfwbError as e:  # SchemaMismatch: not JSON, or not JSON the schema allows
            return str(e), None
    if check is not None and (error := check.error(text)) is not None:
        return error, data
    return None, data


def retry_prompt(prompt: str, error: str) -> str:
    """The prompt of the next attempt: the step's prompt with the last attempt's error after it."""
    return f"{prompt}\n\n{RETRY_NOTE.format(error=error)}"


def plain_data(data: Any) -> Any:
    """A parsed answer as plain JSON values (a Pydantic model dumped), what templates read."""
    dump = getattr(data, "model_dump", None)
    return dump(mode="json") if callable(dump) else data


def missing_field(json_schema: dict, path: str) -> str | None:
    """Why `path` ("parts.0.label") names nothing an answer under `json_schema` holds, in a
    clause; None when it may. Objects that list `properties` hold only those (a name outside
    them is a typo); objects that list none, and untyped parts, may hold anything."""
    nodes: list[Any] = [json_schema]
    walked: list[str] = []
    for part in path.split(".") if path else ():
        found: list[Any] = []
        names: list[str] = []
        kinds: list[str] = []
        for node in _branches(nodes, json_schema):
            types = node.get("type")
            types = set(types) if isinstance(types, list) else {types} if types else set()
            props = node.get("properties")
            if isinstance(props, dict):
                names.extend(props)
                if part in props:
                    found.append(props[part])
            elif part.isdigit() and ("array" in types or "items" in node):
                found.append(node["items"] if isinstance(node.get("items"), dict) else {})
            elif not types or "object" in types:
                extra = node.get("additionalProperties")
                if extra is not False:
                    found.append(extra if isinstance(extra, dict) else {})
            else:
                kinds.extend(sorted(t for t in types if t != "null"))
        if not found:
            where = ".".join(walked) or "the answer"
            if names:
                close = difflib.get_close_matches(part, names, n=1)
                hint = f" — did you mean {close[0]!r}?" if close else ""
                return f"{where} has no field {part!r} (fields: {', '.join(dict.fromkeys(names))}){hint}"
            return f"{where} is {' or '.join(dict.fromkeys(kinds)) or 'a value'}, with no field {part!r}"
        nodes = found
        walked.append(part)
    return None


def _branches(nodes: list, root: dict, depth: int = 0) -> list[dict]:
    """`nodes` with `$ref`s followed and `anyOf`/`oneOf`/`allOf` opened up."""
    out: list[dict] = []
    for node in nodes:
        if not isinstance(node, dict) or depth > 32:  # a recursive schema stops somewhere
            continue
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            target: Any = root
            for key in ref[2:].split("/"):
                target = target.get(key, {}) if isinstance(target, dict) else {}
            out.extend(_branches([target], root, depth + 1))
            continue
        unions = [b for k in ("anyOf", "oneOf", "allOf") for b in node.get(k) or ()]
        if unions:
            out.extend(_branches(unions, root, depth + 1))
            if not any(k in node for k in ("properties", "type", "items")):
                continue
        out.append(node)
    return out
