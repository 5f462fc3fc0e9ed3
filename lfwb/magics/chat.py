"""`%%lfw chat`: each cell is a user's turn of a stored session; `%lfw chat sessions | history | delete`.

    %%lfw chat --session notes -m smollm2
    My name is Ada.

    %%lfw chat --session notes --rag
    What does the style guide say about buttons?

The answer streams into the cell (LiveOutput, as %%lfw generate); under it, one line says when a
summary stood in for older turns and which context chunks were given (with --rag).
"""

from __future__ import annotations

from IPython.core.magic_arguments import argument, magic_arguments

from ..chat import DEFAULT_SESSION
from ..chat.retrieval import MODES
from ..pipelines.templates import fill_template
from .live import LiveOutput
from .registry import Invocation, given, subcommand
from .rows import Rows


@subcommand("chat", cell="required")
@magic_arguments("lfw chat")
@argument("-m", "--model", help="the model for this session (kept with it; default: smollm2)")
@argument("--session", default=DEFAULT_SESSION, help="the session to continue or start (default: default)")
@argument("--system", help="a system prompt (kept with the session)")
@argument("--rag", action="store_true", help="put the project's best-matching context chunks into the prompt")
@argument(
    "--mode", choices=MODES, default=None, help="how --rag ranks chunks (default hybrid; bm25 with Lfwb.embeddings off)"
)
@argument("--new", action="store_true", help="start the session afresh (an earlier one is kept as NAME-2)")
@argument(
    "--max-tokens", type=int, help="stop the answer after this many tokens (default: GenerationConfig's max_tokens)"
)
@argument("--temperature", type=float, default=0.7, help="0 is greedy")
@argument("--seed", type=int, help="random seed, for repeatable answers")
def chat(ctx: Invocation, args):
    """Send the cell body as your turn in a chat session; the answer streams into the cell.

    `{name}` in the body takes the value of `name` from the notebook; `{{name}}` is a literal `{name}`.

    Sessions are stored: they continue in later cells and after a kernel restart. Returns the
    reply (`_.text`, `_.run_id`, `_.sources`).
    """
    from ..chat.session import check_turn

    text = fill_template(ctx.cell or "", ctx.user_ns).rstrip("\r\n")
    settings = given(max_tokens=args.max_tokens, temperature=args.temperature, seed=args.seed)
    check_turn(text, settings)  # before the session is made or changed
    if args.rag:
        ctx.workbench.search_mode(args.mode)  # likewise (send checks it too)
    session = ctx.workbench.chat(args.session, model=args.model, system=args.system, new=args.new)
    return LiveOutput().follow(session.start(text, rag=args.rag, mode=args.mode, **settings))


@subcommand("chat sessions")
@magic_arguments("lfw chat sessions")
def chat_sessions(ctx: Invocation, args) -> Rows:
    """The chat sessions of the current project, most recently used first."""
    rows = ctx.workbench.chat_sessions()
    for r in rows:
        r["summarized turns"] = r["summary_turns"]
    return Rows(
        rows,
        ["name", "model", "messages", "summarized turns", "last_message_at"],
        empty="no chat sessions yet — start one with %%lfw chat",
    )


@subcommand("chat history")
@magic_arguments("lfw chat history")
@argument("--session", default=DEFAULT_SESSION, help="which session (default: default)")
def chat_history(ctx: Invocation, args) -> Rows:
    """A session's messages, oldest first, with how each answer ended and its sources."""
    from ..chat.session import source_label

    rows = ctx.workbench.chat(args.session, create=False).history()
    for r in rows:
        r["sources"] = "; ".join(source_label(s) for s in r["sources"])
    return Rows(
        rows,
        ["id", "role", "status", "content", "sources", "run_id", "created_at"],
        empty=f"session {args.session!r} has no messages yet",
    )


@subcommand("chat delete")
@magic_arguments("lfw chat delete")
@argument("name", help="the session to delete (its runs stay in %%lfw runs)")
def chat_delete(ctx: Invocation, args) -> None:
    """Delete a chat session and its messages; the runs that answered stay."""
    row = ctx.workbench.delete_chat_session(args.name)
    print(f"deleted chat session {row['name']!r}")


@subcommand("panel chat")
@magic_arguments("lfw panel chat")
@argument("--session", default=DEFAULT_SESSION, help="the session to open (default: default)")
def panel_chat(ctx: Invocation, args):
    """A chat panel: messages, an input box, Send and Stop, model and session pickers, sources."""
    from ..widgets.chat_panel import ChatPanel

    return ChatPanel(ctx.workbench, session=args.session)
