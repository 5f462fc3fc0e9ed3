"""Projects, contexts, runs and artifacts: `%lfw project`, `context`, `runs`, `show`, `diff`, ..."""

from __future__ import annotations

from typing import TYPE_CHECKING

from IPython.core.magic_arguments import argument, magic_arguments

from ..chat.retrieval import MODES
from ..errors import BadInput
from ..store import RUN_STATUSES
from .registry import Invocation, positive_int, subcommand
from .rows import Record, Rows

if TYPE_CHECKING:
    from ..run_diff import RunDiff
    from ..run_view import RunView


@subcommand("project")
@magic_arguments("lfw project")
@argument("name", nargs="?", help="switch to this project (created if new)")
def project(ctx: Invocation, args) -> Record:
    """Show the current project, or switch to (and create) NAME."""
    wb = ctx.workbench
    if args.name:
        wb.use_project(args.name)
    return Record(wb.project)


@subcommand("projects")
@magic_arguments("lfw projects")
@argument("--limit", type=positive_int, default=None, help="how many (newest first)")
def projects(ctx: Invocation, args) -> Rows:
    """List projects, newest first."""
    rows = ctx.workbench.projects(limit=args.limit)
    return Rows(rows, ["id", "name", "current", "description", "created_at"], empty="no projects")


@subcommand("context add")
@magic_arguments("lfw context add")
@argument("--text", help="the text to add")
@argument("--file", help="a UTF-8 text file to add")
@argument("--cell", action="store_true", help="add the previous cell's source")
@argument("--name", help="a name for it (default: file name or first line)")
def context_add(ctx: Invocation, args) -> Record:
    """Add material to the current project (searchable, used by chat --rag)."""
    given = [x for x in (args.text is not None, args.file is not None, args.cell) if x]
    if len(given) != 1:
        raise BadInput("give exactly one of --text T, --file PATH or --cell")
    wb = ctx.workbench
    if args.cell:
        history = ctx.user_ns.get("In") or []
        if len(history) < 2 or not history[-2].strip():
            raise BadInput("--cell adds the previous cell's source, and there is none yet")
        return Record(wb.add_context(text=history[-2], name=args.name or "cell", kind="cell"))
    return Record(wb.add_context(text=args.text, file=args.file, name=args.name))


@subcommand("context search")
@magic_arguments("lfw context search")
@argument("query", nargs="+", help="words to look for, or a question")
@argument(
    "--mode",
    choices=MODES,
    default=None,
    help="ranking: bm25 (words), vector (meaning) or hybrid (both, the default); "
    "with %%config Lfwb.embeddings = False, bm25 only",
)
@argument("--limit", type=positive_int, default=10, help="how many chunks (default 10)")
def context_search(ctx: Invocation, args) -> Rows:
    """The chunks of the current project's contexts that retrieval would pick, best first, with
    their relevance (0 to 1; see `lfwb.chat.retrieval.Hit`)."""
    hits = ctx.workbench.search_contexts(" ".join(args.query), limit=args.limit, mode=args.mode)
    rows = [
        {
            "rank": rank,
            "context_id": h.context_id,
            "context": h.context_name,
            "chunk": h.chunk_index,
            "relevance": round(h.relevance, 2),
            "score": h.score,
            "snippet": h.snippet,
        }
        for rank, h in enumerate(hits, start=1)
    ]
    return Rows(rows, ["rank", "context_id", "context", "chunk", "relevance", "snippet"], empty="no matching context")


SHOWN_CHARS = 10_000  # of a context's text; its chunks show the rest


@subcommand("context show")
@magic_arguments("lfw context show")
@argument("context_id", type=positive_int, help="a context id from %%lfw context list or search")
@argument("--chunk", type=int, default=None, help="show only this chunk (its index, from 0)")
def context_show(ctx: Invocation, args) -> Record:
    """One context: its name, source, chunk count and text — or one of its chunks."""
    wb = ctx.workbench
    context = wb.context(args.context_id)
    n = context.pop("chunks")
    if args.chunk is not None:
        c = wb.context_chunk(context["id"], args.chunk)
        return Record(
            {
                "context": f"{context['name']} ({context['id']})",
                "chunk": f"{c['chunk_index']} of {n}",
                "characters": f"{c['start_char']}–{c['end_char']}",
                "tokens": c["tokens"],
                "text": c["text"],
            }
        )
    text = context.pop("text")
    if not text:
        text = f"(kept in its {n} chunks only: %lfw context show {context['id']} --chunk N)"
    elif len(text) > SHOWN_CHARS:
        text = text[:SHOWN_CHARS] + f"\n… {len(text) - SHOWN_CHARS} more characters (see --chunk N)"
    return Record({**context, "chunks": n, "text": text})


@subcommand("context list")
@magic_arguments("lfw context list")
@argument("--limit", type=positive_int, default=20, help="how many (newest first, default 20)")
def context_list(ctx: Invocation, args) -> Rows:
    """List the current project's contexts, newest first."""
    rows = ctx.workbench.contexts(limit=args.limit)
    return Rows(rows, ["id", "name", "kind", "source", "created_at"], empty="no contexts yet")


RUN_COLUMNS = [
    "id",
    "kind",
    "model",
    "answered_by",
    "status",
    "output_tokens",
    "duration_ms",
    "cost_usd",
    "started_at",
    "prompt",
]


@subcommand("runs")
@magic_arguments("lfw runs")
@argument("--limit", type=positive_int, default=20, help="how many (newest first, default 20)")
@argument("--status", choices=RUN_STATUSES, help="only runs with this status")
def runs(ctx: Invocation, args) -> Rows:
    """List the current project's runs, newest first."""
    rows = ctx.workbench.runs(limit=args.limit, status=args.status)
    empty = f"no runs with status {args.status!r}" if args.status else "no runs yet — try %%lfw generate"
    return Rows(rows, RUN_COLUMNS, empty=empty)


@subcommand("show")
@magic_arguments("lfw show")
@argument("run_id", type=positive_int, help="a run id from %%lfw runs")
def show(ctx: Invocation, args) -> RunView:
    """One run: what the model was sent (each message, its role and tokens, the summary and
    retrieved chunks marked), the settings, then the answer."""
    return ctx.workbench.show_run(args.run_id)


@subcommand("diff")
@magic_arguments("lfw diff")
@argument("run_a", type=positive_int, help="the earlier run's id (%%lfw runs)")
@argument("run_b", type=positive_int, help="the run to compare it with")
def diff(ctx: Invocation, args) -> RunDiff:
    """What changed between two runs: model, settings, messages, summary, retrieved chunks, answer."""
    return ctx.workbench.diff_runs(args.run_a, args.run_b)


@subcommand("artifacts")
@magic_arguments("lfw artifacts")
@argument("run_id", type=positive_int, nargs="?", help="only this run's artifacts")
@argument("--versions", type=positive_int, metavar="ID", help="the versions of artifact ID's component (%%lfw revise)")
@argument("--limit", type=positive_int, default=50, help="how many (newest first, default 50)")
def artifacts(ctx: Invocation, args) -> Rows:
    """List code artifacts of the current project, or of one run, or the versions of one."""
    wb = ctx.workbench
    if args.versions is not None:
        rows = wb.artifact_versions(args.versions)
        return Rows(rows, ["id", "version", "instruction", "run_id", "filename", "created_at"])
    rows = wb.artifacts(run_id=args.run_id, limit=args.limit)
    return Rows(rows, ["id", "run_id", "kind", "language", "filename", "created_at"], empty="no artifacts yet")
