"""One exception hierarchy for lfwb.

Every error a user can cause is an `LfwbError` subclass whose message says what went wrong
and what to do next. In IPython they render as that one line (see `_render_traceback_`);
the full traceback stays available through `%lfw error` or `%tb`.
"""

from __future__ import annotations


class LfwbError(Exception):
    """Base class of every error lfwb raises on purpose."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of printing the traceback: users see one line.
        return [f"\x1b[31m{type(self).__name__}\x1b[0m: {self}"]


class UsageError(LfwbError):
    """Bad arguments to a magic or an API call."""


class StoreError(LfwbError):
    """The store file cannot be opened, written or upgraded."""


class NotFound(LfwbError):
    """No row (project, context, run, artifact) with that id or name."""


class AlreadyExists(LfwbError):
    """A unique name is already taken."""


class ContextError(LfwbError):
    """Material for a context cannot be read (missing, binary, unreadable)."""


class ModelNotFound(LfwbError):
    """No model registered under that name."""


class ModelLoadError(LfwbError):
    """A model's file or directory could not be loaded."""


class InsufficientMemory(LfwbError):
    """A model does not fit in the memory budget, even with every idle model unloaded."""


class GenerationError(LfwbError):
    """A backend failed while generating."""


class PromptTooLong(GenerationError):
    """The prompt does not fit the model's context window."""


class BudgetExceeded(LfwbError):
    """A call would spend more than the project's or session's budget allows."""


class MissingCredentials(LfwbError):
    """A remote model needs an API key that is not set."""
