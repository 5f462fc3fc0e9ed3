"""One exception hierarchy for lfwb.

    LfwbError                   every error lfwb raises on purpose
     ├── BadInput               bad arguments to a magic or an API call (IPython's own is UsageError)
     │    ├── PipelineError     a pipeline definition that cannot run: unknown step, cycle, bad settings
     │    ├── StillRunning      a run lfwb is still writing cannot be deleted or changed
     │    └── PreviewRefused    a component a preview or export must not take: too big, a disallowed import, no default export
     ├── StoreError             the store file cannot be opened, written or upgraded
     ├── NotFound               no project, context, run or artifact with that id or name
     ├── AlreadyExists          a unique name is already taken
     ├── ContextError           material for a context cannot be read
     ├── PreviewUnavailable     the preview's front end (lfwb/static) was never built
     ├── SchemaMismatch         an answer that is not JSON its schema allows  (text)
     ├── RefusedBeforeSending   nothing reached a model: the request leaves no run behind
     │    ├── PromptTooLong     the prompt does not fit the context window  (model, tokens, limit)
     │    ├── BudgetExceeded    the call could pass a budget                (model, cost_usd, limit_usd, scope)
     │    └── SchemaUnsupported a schema (or prefill) this backend's grammar cannot take; also a BadInput
     └── Unavailable            this model cannot answer now: a fallback chain moves on
          ├── ModelNotFound     no model registered under that name          (model)
          ├── MissingCredentials  no API key, or the key was refused         (model, provider)
          ├── ModelLoadError    the model's files could not be loaded         (model)
          ├── InsufficientMemory  it does not fit the memory budget          (model, need_bytes, limit_bytes)
          └── GenerationError   the backend failed while generating          (model)
               └── Retryable    429, 5xx, a timeout, a dropped connection: worth another try
                                                                            (retry_after_s)

So an `except` clause reads as policy: a fallback chain skips `(Unavailable,
RefusedBeforeSending)`, the remote loop retries `Retryable`, and a `RefusedBeforeSending`
removes the run's row.

A message says what went wrong (and what to do, where that needs no magic). The `%lfw …`
command that helps is the class's `hint`, added only where IPython shows the error: in a
notebook the error renders as one line (`_render_traceback_`), the full traceback stays
available through `%lfw error` or `%tb`. Structured fields are keyword arguments:

    >>> e = MissingCredentials("g needs a Gemini API key — set GEMINI_API_KEY", model="g", provider="gemini")
    >>> str(e), e.provider, e.hint_text()
    ('g needs a Gemini API key — set GEMINI_API_KEY', 'gemini', 'Or run %lfw key gemini.')
"""

from __future__ import annotations

from typing import Any, ClassVar


class LfwbError(Exception):
    """Base class of every error lfwb raises on purpose."""

    # The `%lfw …` command that helps, as a template over the error's fields; None: no hint.
    # A dict picks the template by the error's `about` field (what kind of thing it is about).
    hint: ClassVar[str | dict[str, str] | None] = None

    def __init__(self, message: str = "", **fields: Any):
        super().__init__(message)
        self.fields = fields
        for name, value in fields.items():
            setattr(self, name, value)

    def __str__(self) -> str:
        return str(self.args[0]) if self.args and self.args[0] else self.__class__.__name__

    def reworded(self, message: str) -> LfwbError:
        """The same error (class and fields) with another message, e.g. prefixed by the model."""
        return type(self)(message, **self.fields)

    def hint_text(self) -> str | None:
        """The hint with this error's fields filled in; None when a field it names is unknown."""
        hint = self.hint.get(self.fields.get("about") or "") if isinstance(self.hint, dict) else self.hint
        if hint is None:
            return None
        try:
            return hint.format(**self.fields)
        except (KeyError, IndexError):
            return None

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of printing the traceback: users see one line.
        line = str(self)
        hint = self.hint_text()
        if hint:
            line = f"{line} {hint}" if line.endswith((".", "?", "!")) else f"{line}. {hint}"
        return [f"\x1b[31m{type(self).__name__}\x1b[0m: {line}"]


class BadInput(LfwbError):
    """Bad arguments to a magic or an API call. Not `UsageError`: IPython has one, which
    IPython prints as a bare message, and both were imported side by side."""

    hint = {
        "project_name": "E.g. %lfw project landing-page.",
        "search": "E.g. %lfw context search button colour.",
        "alias_models": "E.g. %lfw alias best = gemini-2.5-pro, smollm2.",
        "alias_name": "Or first %lfw alias {name} --delete.",
        # The core's messages are neutral (an HTTP client reads them too); the notebook's way out:
        "empty_prompt": "Write it in the cell body.",
        "context_source": "With %lfw context add: --text, --file or --cell.",
        "search_mode": "Here: --mode bm25, or %config Lfwb.embeddings = True.",
        "session_name": "E.g. --session notes.",
        "system_prompt": "Leave out --system for the default.",
        "no_retrieval": "Send without --rag.",
        "pipeline_context": "With %lfw context add --name {name}.",
        "pipeline_name": "Or name it on the cell: %%lfw pipeline ui-component.",
        "eval_run": "See %lfw runs.",
    }


def check_text(text: str, what: str, error: type[BadInput] = BadInput) -> None:
    """Refuse text that UTF-8 cannot hold: a lone surrogate ("\\ud800", from a JSON escape or
    bytes decoded with surrogateescape) would fail later, in SQLite or a renderer, half-stored."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise error(
            f"{what} holds a lone surrogate ({text[e.start]!a} at character {e.start}) "
            "— not text UTF-8 can hold; remove it"
        ) from None


def check_prompt(text: object, what: str = "prompt") -> None:
    """Refuse a prompt (a chat message, ...) that is not text or holds only whitespace: every
    face's one "the prompt is empty" (a magic adds how to give one as the hint)."""
    if not isinstance(text, str) or not text.strip():
        raise BadInput(f"the {what} is empty", about="empty_prompt")


class PipelineError(BadInput):
    """A pipeline definition that cannot run (bad YAML, an unknown step or model, a cycle, a
    template field nothing provides, bad settings); refused before anything runs or is saved."""


class PreviewRefused(BadInput):
    """A component source that a preview, a revision or a Framer export must not take: over the
    size cap, an import other than react, react-dom, framer and framer-motion, no default export,
    or an answer with no component in it."""


class StillRunning(BadInput):
    """A run lfwb is still writing: its record cannot be changed or deleted until it ends."""


class SchemaMismatch(LfwbError):
    """An answer that is not JSON, or not JSON its schema allows (lfwb/structured.py); `text`
    is the answer as the model gave it, kept for a look."""

    hint = {"cut": "Raise --max-tokens."}


class StoreError(LfwbError):
    """The store file cannot be opened, written or upgraded."""


class NotFound(LfwbError):
    """No row (project, context, run, artifact) with that id or name."""

    hint = {
        "project": "Create one with %lfw project NAME.",
        "context": "See %lfw context list.",
        "run": "See %lfw runs.",
        "step": "See %lfw runs.",
        "artifact": "See %lfw artifacts.",
        "pipeline": "See %lfw pipelines.",
        "alias": "See %lfw alias.",
        "eval": "See %lfw evals, or define one with %%lfw eval NAME.",
    }


class AlreadyExists(LfwbError):
    """A unique name is already taken."""

    hint = {"project": "Switch to it with %lfw project {name}."}


class ContextError(LfwbError):
    """Material for a context cannot be read (missing, binary, unreadable)."""


class PreviewUnavailable(LfwbError):
    """The JSX preview's runtime bundle is missing (a source checkout where npm never ran)."""


# -- refused before sending: bad input, not a run ---------------------------------------------


class RefusedBeforeSending(LfwbError):
    """The request was refused before anything reached a model; no run is kept."""


class PromptTooLong(RefusedBeforeSending):
    """The prompt does not fit the model's context window."""


class BudgetExceeded(RefusedBeforeSending):
    """A call would spend more than the project's or session's budget allows."""

    hint = "Raise it with %lfw budget {scope} {raise_to}."


class SchemaUnsupported(RefusedBeforeSending, BadInput):
    """A schema (or a prefill under it) a backend's grammar cannot take: refused before
    generating, so no run is kept, and a fallback chain may try its next model."""


# -- unavailable: a fallback chain skips the model --------------------------------------------


class Unavailable(LfwbError):
    """This model cannot answer now (no key, cannot fit, cannot load, server down, ...)."""


class ModelNotFound(Unavailable):
    """No model registered under that name."""

    hint = "Use %lfw models, or %lfw register."


class MissingCredentials(Unavailable):
    """A remote model needs an API key that is not set, or the server refused it."""

    hint = "Or run %lfw key {provider}."


class ModelLoadError(Unavailable):
    """A model's file or directory could not be loaded."""


class InsufficientMemory(Unavailable):
    """A model does not fit in the memory budget, even with every idle model unloaded."""


class GenerationError(Unavailable):
    """A backend failed while generating."""


class Retryable(GenerationError):
    """A failure worth another try: rate limited (429), a server error (5xx), a timeout, a
    dropped connection. `retry_after_s` is the wait the server asked for, if it said."""

    retry_after_s: float | None = None
