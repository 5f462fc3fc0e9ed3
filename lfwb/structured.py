"""Structured output: the schema an answer is decoded under, and the answer read back through it.

    >>> schema = resolve_schema({"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}}}})
    >>> schema.json_schema["properties"]["tags"]["maxItems"], schema.parse('{"tags": ["ale"]}')
    (5, {'tags': ['ale']})

A spec is a Pydantic model class, a JSON Schema dict, a `.json` file (a path, or a name in the
working folder), a name in the notebook's namespace that holds one of these, or "json" for any
JSON object. Bad specs are refused here, before anything runs, in one line each.

A schema leaves arrays and strings open, and a small model fills an open array until its token
limit (`"tags": ["Ale", "Ale", ...]`): `json_schema` is the schema with a bound on every array
(`maxItems`) and string (`maxLength`) that has none. Bounds only tighten, so an answer decoded
under them still matches the schema as given, which `parse` checks.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import TypeGuard

    from pydantic import BaseModel

from .errors import BadInput, SchemaMismatch

__all__ = ["Schema", "SchemaMismatch", "bound", "pretty", "read_answer", "resolve_schema"]

# Bounds given to what a schema leaves open (a schema's own bounds are kept). A list of five
# and a string of 100 characters hold what a small model usefully writes, and a looping one
# stops there instead of at the token limit (SmolLM2 under an order schema with open lists
# ran past 256 tokens in 1 of 20 answers at 8 and 200, writing eight items of five tags).
DEFAULT_MAX_ITEMS = 5
DEFAULT_MAX_LENGTH = 100
ANY_OBJECT = {"type": "object"}
# The grammar converter spells a bound out (`x{0,n}` becomes n rules), so a schema asking for a
# billion characters would take the process down with it (a schema may come over HTTP): refused.
MAX_REPEAT = 10_000
_SIZES = ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties")
# Keywords llama.cpp's schema-to-grammar converter drops without a word: an answer decoded
# under a schema that uses them could break them, so such a schema is refused up front.
_INEXPRESSIBLE = (
    "not",
    "if",
    "then",
    "else",
    "patternProperties",
    "dependentSchemas",
    "dependentRequired",
    "propertyNames",
    "contains",
    "unevaluatedProperties",
    "unevaluatedItems",
)
_FENCE = re.compile(r"\A```[\w-]*\n(.*)\n```\Z", re.S)


@dataclass(frozen=True)
class Schema:
    """A resolved schema: `json_schema` (bounded) is what decoding is constrained to; `parse`
    reads an answer back as `model` (a Pydantic class) or plain JSON."""

    name: str
    json_schema: dict
    model: type[BaseModel] | None = None
    # The schema as given (unbounded): what `parse` checks a dict answer against.
    source: dict = field(default_factory=dict, repr=False, compare=False)

    def parse(self, text: str) -> Any:
        """The answer as data: a model instance for a Pydantic schema, else the JSON value.
        Raises SchemaMismatch (one line) when it is not JSON or the schema does not allow it."""
        body = text.strip()
        fenced = _FENCE.match(body)  # a remote model may wrap its JSON in a fence
        if fenced:
            body = fenced.group(1).strip()
        try:
            value = json.loads(body)
        except json.JSONDecodeError as e:
            raise SchemaMismatch(f"the answer is not JSON ({e.msg} at character {e.pos})", text=text) from None
        if self.model is not None:
            return self._validate_model(value, text)
        from jsonschema import validators
        from jsonschema.exceptions import best_match

        error = best_match(validators.validator_for(self.source)(self.source).iter_errors(value))
        if error is not None:
            raise SchemaMismatch(
                f"the answer does not match {self.name}{_where(error.absolute_path)}: {_short(error.message)}",
                text=text,
            )
        return value

    def _validate_model(self, value: Any, text: str) -> Any:
        from pydantic import ValidationError

        assert self.model is not None
        try:
            return self.model.model_validate(value)
        except ValidationError as e:
            errors = e.errors()
            first = errors[0]
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            raise SchemaMismatch(
                f"the answer does not match {self.name}{_where(first['loc'])}: {_short(first['msg'])}{more}", text=text
            ) from None


def read_answer(schema: Schema, text: str, finish_reason: str | None, max_tokens: int) -> Any:
    """`schema.parse(text)` for a finished generation; an answer that ran into its token limit
    before its JSON ended says so (the cure is more tokens, not another schema)."""
    try:
        return schema.parse(text)
    except SchemaMismatch as e:
        if finish_reason == "length":
            raise SchemaMismatch(
                f"the answer reached its {max_tokens}-token limit before its JSON ended", text=text, about="cut"
            ) from None
        raise e


def pretty(data: Any) -> str:
    """Parsed data (a model instance or a JSON value) as indented JSON, for a cell to show."""
    if hasattr(data, "model_dump_json"):
        return data.model_dump_json(indent=2)
    return json.dumps(data, indent=2, ensure_ascii=False)


def resolve_schema(spec: Any, namespace: dict | None = None, folder: str | Path | None = None) -> Schema:
    """The Schema `spec` names (see the module docstring); a bad spec raises BadInput in one line.

    >>> resolve_schema("json").json_schema
    {'type': 'object'}
    """
    if isinstance(spec, Schema):
        return spec
    if isinstance(spec, str):
        spec, name = _look_up(spec, namespace, folder)
    else:
        name = None
    if isinstance(spec, Schema):
        return spec
    if isinstance(spec, type):
        if not _is_pydantic(spec):
            raise BadInput(
                f"{spec.__name__} is a class but not a Pydantic model — a schema class subclasses pydantic.BaseModel"
            )
        source = spec.model_json_schema()
        return _made(name or spec.__name__, source, spec)
    if isinstance(spec, dict):
        return _made(name or str(spec.get("title") or "the schema"), spec, None)
    raise BadInput(
        f'a schema is a Pydantic model class, a JSON Schema dict, a .json file or "json"; got {type(spec).__name__}'
    )


def _look_up(spec: str, namespace: dict | None, folder: str | Path | None) -> tuple[Any, str]:
    """What a schema named by text stands for, and the name it goes by."""
    if spec == "json":
        return Schema("json", dict(ANY_OBJECT), None, dict(ANY_OBJECT)), "json"
    if namespace is not None and spec.isidentifier() and spec in namespace:
        value = namespace[spec]
        if isinstance(value, str):  # a variable holding a file's path
            return _look_up(value, None, folder)[0], spec
        return value, spec
    base = Path(folder) if folder is not None else Path.cwd()
    for candidate in (Path(spec).expanduser(), Path(spec + ".json")):
        path = candidate if candidate.is_absolute() else base / candidate
        if path.suffix == ".json" and path.is_file():
            return _read_file(path), path.stem
    if spec.endswith(".json") or "/" in spec:
        raise BadInput(f"no schema file {spec} in {base}")
    raise BadInput(
        f"no schema named {spec!r}: define a Pydantic model or a JSON Schema dict "
        f"named {spec}, or put {spec}.json in {base}"
    )


def _read_file(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadInput(f"{path.name} is not a JSON file ({_short(str(e))})") from None


def _is_pydantic(cls: type) -> TypeGuard[type[BaseModel]]:
    try:
        from pydantic import BaseModel
    except ImportError:
        return False
    return issubclass(cls, BaseModel)


def _made(name: str, source: dict, model: type[BaseModel] | None) -> Schema:
    _check(name, source)
    bounded = bound(source)
    _check_expressible(name, bounded)
    return Schema(name, bounded, model, source)


def _check(name: str, source: dict) -> None:
    from jsonschema import validators
    from jsonschema.exceptions import SchemaError

    try:
        validators.validator_for(source).check_schema(source)
    except SchemaError as e:
        raise BadInput(f"{name} is not a valid JSON Schema{_where(e.absolute_path)}: {_short(e.message)}") from None
    except RecursionError:
        raise BadInput(f"{name} is nested too deeply to check — flatten it") from None


def _check_expressible(name: str, bounded: dict) -> None:
    """Refuse what llama.cpp's grammar converter cannot express (or would silently drop)."""
    for node in _subschemas(bounded):
        for keyword in _INEXPRESSIBLE:
            if keyword in node:
                raise BadInput(
                    f"{name} uses {keyword!r}, which constrained decoding cannot "
                    "express — describe the value without it"
                )
        for keyword in _SIZES:
            size = node.get(keyword)
            if isinstance(size, (int, float)) and size > MAX_REPEAT:
                raise BadInput(
                    f"{name} asks for {keyword} {size:,}, more than constrained decoding "
                    f"spells out (at most {MAX_REPEAT:,}) — lower it"
                )
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        json_schema_to_gbnf(json.dumps(bounded))
    except (ValueError, AssertionError, KeyError, TypeError, RecursionError) as e:
        raise BadInput(f"constrained decoding cannot express {name}: {_short(str(e))}") from None


def bound(schema: dict, max_items: int = DEFAULT_MAX_ITEMS, max_length: int = DEFAULT_MAX_LENGTH) -> dict:
    """A copy of `schema` with `maxItems` on every array and `maxLength` on every free string
    that has none (an array whose `minItems` is above the default keeps room for them)."""
    bounded = copy.deepcopy(schema)
    for node in _subschemas(bounded):
        types = node.get("type")
        types = set(types) if isinstance(types, list) else {types}
        if ("array" in types or "items" in node) and "maxItems" not in node and "prefixItems" not in node:
            node["maxItems"] = max(max_items, int(node.get("minItems", 0)))
        free = not any(k in node for k in ("enum", "const", "pattern", "format"))
        if "string" in types and free and "maxLength" not in node:
            node["maxLength"] = max(max_length, int(node.get("minLength", 0)))
    return bounded


def _subschemas(node: Any) -> list[dict]:
    """Every schema inside `node` (itself included), through properties, items, $defs, unions."""
    found: list[dict] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, list):
            stack.extend(current)
        elif isinstance(current, dict):
            found.append(current)
            for key, value in current.items():
                if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
                    stack.extend(value.values())
                elif key in ("items", "prefixItems", "anyOf", "oneOf", "allOf", "additionalProperties"):
                    stack.append(value)
    return found


def _where(path: Any) -> str:
    parts = [str(p) for p in path]
    return f" at {'.'.join(parts)}" if parts else ""


def _short(message: str, limit: int = 160) -> str:
    line = " ".join(message.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
