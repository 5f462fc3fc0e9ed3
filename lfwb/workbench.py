"""The Workbench: one per kernel, shared by the magics, the widgets, the server and user code.

>>> import lfwb
>>> wb = lfwb.workbench()              # the same object %lfw uses
>>> wb.use_project("landing-page")
>>> wb.generate("Write a haiku about SQLite", max_tokens=40).text
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .chat import DEFAULT_SESSION
from . import config
from .config import kernel_settings
from .errors import BadInput, check_prompt, check_text
from .workbench_evals import Evals
from .workbench_models import Models
from .workbench_pipelines import Pipelines
from .workbench_records import Records

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

    from .chat.retrieval import Hit
    from .chat.session import ChatSession
    from .handles import Handle
    from .pipelines.compare import CompareResult, OnCompare
    from .pipelines.spec import PipelineSpec
    from .preview.revise import Revision
    from .runs import OnStart, OnText, RunResult
    from .runtimes import RuntimeManager

    # A pipeline as the Workbench takes it: a saved or bundled name, YAML text, a dict, a spec.
    PipelineRef = str | Mapping[str, Any] | PipelineSpec

DEFAULT_PROJECT = "default"


class Workbench(Records, Models, Pipelines, Evals):
    """Store + RuntimeManager + current project. Use `lfwb.workbench()` to get the kernel's one.

    Every operation a face offers is a method here: the records (lfwb/workbench_records.py), the
    models (lfwb/workbench_models.py), the pipelines (lfwb/workbench_pipelines.py) and the evals
    (lfwb/workbench_evals.py) are its parts; the faces call nothing below it."""

    def __init__(self, db_path: str | None = None, manager: RuntimeManager | None = None, *, adopt: bool = False):
        from .runtimes import RuntimeManager
        from .store import Store

        self.store = Store(db_path, adopt=adopt)
        self.store.mark_interrupted_runs()
        self.manager = manager or RuntimeManager(store=self.store)
        if manager is not None:
            self.manager.attach_store(self.store)
        self.project = self.store.ensure_project(DEFAULT_PROJECT)
        self.default_model = "smollm2"
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"<Workbench store={self.store.path} project={self.project['name']!r}>"

    # -- store and project -------------------------------------------------------------

    def open_store(self, path: str, *, adopt: bool = False) -> None:
        """Switch to another store file; loaded models stay loaded. `adopt=True` lets lfwb
        add its tables to another application's SQLite file."""
        from .store import Store

        store = Store(path, adopt=adopt)  # raises before anything changes if the path is bad
        store.mark_interrupted_runs()
        old, self.store = self.store, store
        self.manager.attach_store(store)
        self.project = store.ensure_project(DEFAULT_PROJECT)
        old.close()

    def use_project(self, name: str) -> dict:
        """Switch to project `name`, creating it if it does not exist."""
        self.project = self.store.ensure_project(name)
        return self.project

    @property
    def path(self) -> str:
        """The store file's path."""
        return self.store.path

    # Set here to override `%config Lfwb.embeddings` for this Workbench; None: follow it.
    _embeddings: bool | None = None

    @property
    def embeddings(self) -> bool:
        """Whether searches may rank by vectors too: `%config Lfwb.embeddings` (on by default;
        outside IPython, on unless set here)."""
        if self._embeddings is not None:
            return self._embeddings
        settings = kernel_settings()
        return True if settings is None else bool(settings.embeddings)

    @embeddings.setter
    def embeddings(self, on: bool) -> None:
        self._embeddings = bool(on)

    @property
    def retrieval_mode(self) -> str:
        """The search mode a caller that does not pick one gets: hybrid with embeddings on and
        the `rag` extra installed, else bm25."""
        from .chat.embeddings import unavailable

        return "hybrid" if self.embeddings and unavailable() is None else "bm25"

    def add_context(
        self,
        text: str | None = None,
        file: str | None = None,
        name: str | None = None,
        kind: str | None = None,
        project_id: int | None = None,
    ) -> dict:
        """Add material to the current project (or `project_id`'s): `text=` or a UTF-8 text
        `file=` (read in a stream). It is chunked for retrieval at once; its vectors are made
        by the first search that ranks by them."""
        from .chat import retrieval

        project_id = project_id or self.project_id

        if (text is None) == (file is None):
            raise BadInput("give exactly one of text, file or cell", about="context_source")
        for value, what in ((text, "the context's text"), (name, "the context's name"), (kind, "the context's kind")):
            if isinstance(value, str):
                check_text(value, what)
        if file is not None:
            context = retrieval.add_file_context(self.store, project_id, file, name, kind or "file")
        elif text is not None:  # one of the two, checked above
            context = self.store.add_context(project_id, text, name=name, kind=kind or "note")
            retrieval.index_context(self.store, context["id"])
        return {**context, "chunks": self.store.chunk_count(context["id"])}

    def search_contexts(
        self, query: str, limit: int = 10, mode: str | None = None, project_id: int | None = None
    ) -> list[Hit]:
        """The chunks of the current project's (or `project_id`'s) contexts that best match
        `query`, best first (`lfwb.chat.retrieval.Hit`s). `mode`: bm25, vector or hybrid;
        default `retrieval_mode`."""
        from .chat import retrieval

        mode = self.search_mode(mode)
        return retrieval.retrieve(self.store, project_id or self.project_id, query, mode=mode, limit=limit)

    def search_mode(self, mode: str | None = None) -> str:
        """The mode a search or a `rag` chat turn ranks by: `mode`, else `retrieval_mode`. One
        line when it cannot: unknown, or by vectors with `embeddings` off. Every face (magic,
        panel, REST, WebSocket) passes here, so none embeds the project's contexts unasked."""
        from .chat import retrieval

        if mode is None:
            return self.retrieval_mode
        retrieval.check_mode(mode)
        if mode != "bm25" and not self.embeddings:
            raise BadInput(
                f"mode {mode} ranks by vectors, and embeddings are off — use mode bm25, or turn "
                "embeddings on (Lfwb.embeddings = True: it embeds this project's contexts once)",
                about="search_mode",
            )
        return mode

    # -- generation --------------------------------------------------------------------

    def start_generate(
        self,
        prompt: str,
        model: str | None = None,
        *,
        system: str | None = None,
        raw: bool = False,
        on_text: OnText | None = None,
        on_start: OnStart | None = None,
        messages: list[dict] | None = None,
        project_id: int | None = None,
        schema: Any = None,
        cache: bool = False,
        **settings: Any,
    ) -> Handle[RunResult]:
        """`generate` as a `Handle` (lfwb/handles.py): iterate it for `Text` pieces, `cancel()`
        it from any thread, `result()` (or `await`) it for the `RunResult`."""
        from .handles import Handle
        from .structured import resolve_schema

        # A bad schema is refused here, before the handle exists: nothing runs, nothing is kept.
        schema = None if schema is None else resolve_schema(schema)

        def work(h: Handle) -> RunResult:
            started, text = h.following(on_start, on_text)
            return self._generate(
                prompt, model, system, raw, started, text, h.stop, messages, project_id, settings, schema, cache
            )

        return Handle(work)

    def generate(self, prompt: str, model: str | None = None, **options: Any) -> RunResult:
        """Generate text for `prompt` and record the run. Returns a `RunResult`.

        The prompt is sent as one user message through the model's chat template, unless
        `raw=True` (plain completion). Other options are GenerationConfig fields
        (max_tokens, temperature, top_p, top_k, seed, stop). `on_start(result)` and
        `on_text(text, result)` follow the run as it streams (see `record_generation`).
        `messages` (a whole chat, as OpenAI's API sends it) replaces `prompt`'s one user
        message; `prompt` is what the row keeps. `project_id` records the run in another
        project than the current one (the server's requests name theirs).
        `schema` (a Pydantic model class, a JSON Schema dict, a .json file, or "json" for any
        object; see lfwb/structured.py) constrains the answer while it is decoded and reads it
        back: `result.data` is the parsed value (a model instance for a Pydantic class).
        `cache=True`: a request that repeats itself (temperature 0 or a seed) takes the answer of
        an earlier one with the same key instead (`result.cached_from`; lfwb/pipelines/step_cache.py).
        To stop it from elsewhere, use `start_generate(...)`'s handle.
        """
        return self.start_generate(prompt, model, **options).result()

    async def agenerate(self, prompt: str, model: str | None = None, **options: Any) -> RunResult:
        """`generate`, awaited: `await wb.agenerate("Hi")` (several at once with asyncio.gather)."""
        return await self.start_generate(prompt, model, **options)

    async def astream(self, prompt: str, model: str | None = None, **options: Any) -> AsyncIterator[str]:
        """The pieces of `generate`'s text as they come: `async for piece in wb.astream("Hi")`.
        Leaving the loop early stops the run (kept, cancelled)."""
        from .handles import Text

        async for event in self.start_generate(prompt, model, **options):
            if isinstance(event, Text):
                yield event.piece

    def _generate(
        self,
        prompt,
        model,
        system,
        raw,
        on_start,
        on_text,
        stop,
        messages,
        project_id,
        settings,
        schema=None,
        cache=False,
    ) -> RunResult:
        from .pipelines.artifacts import save_artifacts
        from .pipelines.step_cache import look_up
        from .runs import record_generation
        from .runtimes.base import chat_config

        check_prompt(prompt)
        if messages is not None:
            from .runtimes import GenerationConfig

            gen = GenerationConfig(messages=messages, **settings)
        else:
            gen = chat_config(prompt, system, raw, **settings)
        store, project_id = self.store, project_id or self.project_id
        # Kept open until the artifacts are saved too: they go with their run to the store it
        # started in, even when %config Lfwb.db_path switches stores meanwhile.
        with store.kept_open():
            key = None
            if cache:  # a request that repeats itself may take an earlier answer (step_cache.py)
                key, hit = look_up(store, self.manager, project_id, model or self.default_model, gen, prompt, schema)
                if hit:
                    if on_start is not None:
                        on_start(hit)
                    if on_text is not None:
                        on_text(hit.text, hit)
                    return hit
            result = record_generation(
                store,
                self.manager,
                project_id,
                model or self.default_model,
                gen,
                prompt=prompt,
                on_text=on_text,
                on_start=on_start,
                stop=stop,
                schema=schema,
            )
            if key is not None and result.status == "done" and result.run_id is not None:
                store.update_run(result.run_id, cache_key=key)  # from now on, a source for the cache
            if result.status == "done" and result.run_id is not None:  # a recorded run has its id
                # Its fenced code becomes the run's artifacts here, below every face. Only a
                # finished answer: a cancelled run raises before this, a failed one keeps its text.
                save_artifacts(store, result.run_id, project_id, result.text)
        return result

    def start_compare(
        self,
        prompt: str,
        models: list[str],
        *,
        system: str | None = None,
        on_start: OnCompare | None = None,
        on_update: OnCompare | None = None,
        **settings: Any,
    ) -> Handle[CompareResult]:
        """`compare` as a `Handle`: `Update` events carry the `CompareResult` as it fills in."""
        from .handles import Handle
        from .pipelines.compare import compare

        def work(h: Handle) -> CompareResult:
            update = h.updating(on_update)
            return compare(
                self,
                prompt,
                models,
                system=system,
                on_start=h.updating(on_start),
                on_update=update,
                stop=h.stop,
                **settings,
            )

        return Handle(work)

    def compare(self, prompt: str, models: list[str], **options: Any) -> CompareResult:
        """Ask several models the same `prompt` side by side (remote ones at once, local ones in
        turn); a run per model under one parent run. Returns a `CompareResult` (`.results[model]`,
        `.run_id`); see lfwb/pipelines/compare.py."""
        return self.start_compare(prompt, models, **options).result()

    def start_revise(
        self,
        artifact_id: int,
        instruction: str,
        model: str | None = None,
        **settings: Any,
    ) -> Handle[Revision]:
        """`revise` as a `Handle`; a cancelled revision's result is its run (no version kept)."""
        from .handles import Handle
        from .preview.revise import revise

        def work(h: Handle) -> Revision:
            on_start, on_text = h.following(settings.pop("on_start", None), settings.pop("on_text", None))
            return revise(
                self, artifact_id, instruction, model, on_start=on_start, on_text=on_text, stop=h.stop, **settings
            )

        return Handle(work)

    def revise(self, artifact_id: int, instruction: str, model: str | None = None, **settings: Any) -> Revision:
        """Ask `model` to change the component kept as artifact `artifact_id` as `instruction`
        says; the answer's component is kept as its next version. Returns a `Revision`
        (`.artifact`, `.parent`, `.run`; shows both previews side by side); see
        lfwb/preview/revise.py."""
        return self.start_revise(artifact_id, instruction, model, **settings).result()

    def chat(
        self,
        session: str = DEFAULT_SESSION,
        model: str | None = None,
        system: str | None = None,
        new: bool = False,
        create: bool = True,
    ) -> ChatSession:
        """The chat session `session` of the current project, made if new (`%%lfw chat` uses the
        same one): `.send(text)`, `.stream(text)`, `.history()`; see lfwb/chat/session.py.
        `create=False`: an unknown session is `NotFound`, nothing is made."""
        from .chat.session import ChatSession, open_session

        if not create:
            return ChatSession(self, self.store.get_chat_session(self.project_id, session))
        return open_session(self, session, model=model, system=system, new=new)

    def close(self) -> None:
        self.store.close()


_current: Workbench | None = None
_current_lock = threading.Lock()


def workbench(db_path: str | None = None) -> Workbench:
    """The kernel's Workbench, created on first call (the magics use the same one)."""
    global _current
    with _current_lock:
        settings = kernel_settings()
        adopt = settings is not None and settings.adopt_db
        if _current is None:
            _current = Workbench(db_path or _configured_db_path(), adopt=adopt)
            if settings is not None:  # %config set before the first use
                settings.apply_to(_current.manager)
        elif db_path and Path(db_path).resolve() != Path(_current.store.path).resolve():
            _current.open_store(db_path, adopt=adopt)
        return _current


def _configured_db_path() -> str | None:
    settings = kernel_settings()
    return settings.db_path if settings is not None and settings.db_path else None


def current() -> Workbench | None:
    """The kernel's Workbench if one was made, without making one."""
    return _current


config.current = current  # %config changes reach the kernel's Workbench; config.py never imports this module


def reset_workbench() -> None:
    """Close and forget the kernel's Workbench (tests; `%reload_ext lfwb`)."""
    global _current
    with _current_lock:
        if _current is not None:
            _current.manager.unload_all()
            _current.close()
        _current = None
