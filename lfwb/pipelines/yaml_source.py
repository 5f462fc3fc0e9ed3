"""A pipeline definition's YAML, read with limits: the one loader for cells, files and HTTP.

    >>> load_definition("steps:\\n  - {name: a, model: m, prompt: hi}\\n", "pipeline 'p'")
    {'steps': [{'name': 'a', 'model': 'm', 'prompt': 'hi'}]}
    >>> load_definition("a: &x 1\\nb: *x\\n", "pipeline 'p'")
    Traceback (most recent call last):
    PipelineError: pipeline 'p': YAML anchors and aliases (&name, *name, <<:) are not taken (line 1) — write each value out

YAML can say much more than a definition needs, and some of it is costly before any check of
ours runs: nine nested aliases expand to 10⁹ nodes ("billion laughs"), and PyYAML composes
nested collections by recursion. So anchors and aliases, nesting past `MAX_DEPTH` and text past
`MAX_DEFINITION_BYTES` are refused as the text is read, in one line and in milliseconds; tags
beyond plain data (`!!python/object`) are refused by PyYAML's SafeLoader, which this builds on.
PyYAML is imported on first use: `%load_ext lfwb` imports no yaml.
"""

from __future__ import annotations

import functools
from typing import Any

from ..errors import PipelineError, check_text

# One cap for a definition wherever it comes from (a cell, a file, HTTP, whose bodies take 1 MiB):
# a real one is a few kB.
MAX_DEFINITION_BYTES = 256 * 1024
MAX_DEPTH = 32  # a definition nests 4 deep; PyYAML's composer recurses once per level


def load_definition(text: str, label: str) -> Any:
    """The data `text` holds; `PipelineError` (one line, starting with `label`) when it is not
    YAML a definition may be written in."""
    import yaml

    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_DEFINITION_BYTES:
        raise PipelineError(f"{label}: the definition is {size} bytes — at most {MAX_DEFINITION_BYTES} are taken")
    check_text(text, f"{label}: the definition", PipelineError)
    loader = None
    try:
        loader = _definition_loader()(text)  # its reader already refuses control characters
        return loader.get_single_data()
    except PipelineError as e:  # refused by the loader
        raise PipelineError(f"{label}: {e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise PipelineError(f"{label}: not valid YAML{where} — {problem}") from None
    finally:
        if loader is not None:
            loader.dispose()


def dump_definition(data: dict) -> str:
    """`data` as the YAML a person would write: keys in their order, text as written."""
    import yaml

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


@functools.cache
def _definition_loader() -> type:
    """SafeLoader refusing anchors, aliases and nesting past MAX_DEPTH as the nodes are composed,
    before anything is built (a class made once, on first use, as it subclasses PyYAML's)."""
    import yaml

    class DefinitionLoader(yaml.SafeLoader):
        depth = 0

        def compose_node(self, parent, index):
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
                raise PipelineError(
                    f"YAML anchors and aliases (&name, *name, <<:) are not taken "
                    f"(line {event.start_mark.line + 1}) — write each value out"
                )
            if self.depth >= MAX_DEPTH:
                raise PipelineError(
                    f"the YAML nests deeper than {MAX_DEPTH} levels "
                    f"(line {event.start_mark.line + 1}) — a definition nests 4 deep"
                )
            self.depth += 1
            try:
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

    return DefinitionLoader
