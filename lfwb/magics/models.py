"""Models: `%lfw models`, `register`, `unregister`, `load`, `unload`, `info`, `health`, `stats`,
`panel models`. Each calls the Workbench's method of the same name (lfwb/workbench_models.py)."""

from __future__ import annotations

import json
from pathlib import Path

from IPython.core.magic_arguments import argument, magic_arguments

from ..errors import BadInput
from .registry import Invocation, positive_float, positive_int, subcommand
from .rows import Record, Rows


@subcommand("models")
@magic_arguments("lfw models")
def models(ctx: Invocation, args) -> Rows:
    """List registered models: runtime, loaded or not, memory, source."""
    return Rows(
        ctx.workbench.models(),
        ["name", "runtime", "loaded", "memory", "source"],
        empty="no models — %lfw register NAME --runtime llama_cpp --source FILE.gguf",
    )


@subcommand("register")
@magic_arguments("lfw register")
@argument("name", help="the name to use it by (letters, digits, - _ .)")
@argument("--runtime", required=True, help="llama_cpp | transformers | openai_compat | gemini")
@argument("--source", required=True, help="a GGUF file, a checkpoint folder, or a remote model id")
@argument("--device", default="auto", help="auto | cpu | cuda | mps (transformers)")
@argument("--dtype", default="auto", help="auto | float32 | float16 | bfloat16 (transformers)")
@argument("--quantization", default="none", help="none | int8 (transformers)")
@argument("--gguf-file", help="a GGUF file inside --source to load (transformers)")
@argument("--context-length", type=positive_int, help="context window in tokens (default: the model's, at most 2048)")
@argument("--threads", type=positive_int, help="CPU threads (default: every physical core)")
@argument("--chat-template", help="a Jinja chat template, or a file holding one (default: the model's own)")
@argument("--base-url", help="the server's URL (openai_compat), e.g. http://127.0.0.1:8000/v1")
@argument("--api-key-env", help="the environment variable holding the API key (never the key itself)")
@argument("--memory-gb", type=positive_float, help="memory the model takes, when the estimate is wrong")
@argument(
    "--option",
    action="append",
    default=[],
    metavar="KEY=VALUE",
    help="any other backend setting (repeatable; VALUE is read as JSON when it can be)",
)
def register(ctx: Invocation, args) -> Record:
    """Register a model under NAME (nothing loads until it is used); kept in the store."""
    options = _parse_options(args.option)
    for key in ("gguf_file", "base_url", "api_key_env"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    config = ctx.workbench.register_model(
        name=args.name,
        runtime=args.runtime,
        source=args.source,
        device=args.device,
        dtype=args.dtype,
        quantization=args.quantization,
        context_length=args.context_length,
        threads=args.threads,
        chat_template=_read_template(args.chat_template),
        memory_estimate=None if args.memory_gb is None else int(args.memory_gb * 2**30),
        options=options,
    )
    return Record({k: v for k, v in config.to_dict().items() if v not in (None, {}, "")})


def _parse_options(pairs: list[str]) -> dict:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"--option takes KEY=VALUE, got {pair!r}")
        try:
            options[key.strip()] = json.loads(value)
        except ValueError:
            options[key.strip()] = value
    return options


def _read_template(value: str | None) -> str | None:
    if value is None or "{" in value:
        return value
    path = Path(value).expanduser()
    if not path.is_file():
        raise BadInput(f"--chat-template is neither a Jinja template nor a file: {value!r}")
    return path.read_text(encoding="utf-8")


@subcommand("unregister")
@magic_arguments("lfw unregister")
@argument("name")
def unregister(ctx: Invocation, args) -> None:
    """Forget a registered model (unloading it first)."""
    ctx.workbench.unregister_model(args.name)
    print(f"unregistered {args.name}")


@subcommand("load")
@magic_arguments("lfw load")
@argument("name", help="a registered model")
def load(ctx: Invocation, args) -> Record:
    """Load a model now instead of on first use (idle models may be unloaded to make room)."""
    row = ctx.workbench.load_model(args.name)
    return Record(dict(row, memory=_memory(row["bytes"])))


@subcommand("unload")
@magic_arguments("lfw unload")
@argument("name", nargs="?", help="a registered model")
@argument("--all", action="store_true", help="unload every model")
def unload(ctx: Invocation, args) -> None:
    """Unload a model and free its memory (it loads again on next use)."""
    wb = ctx.workbench
    if args.all == bool(args.name):
        raise BadInput("give a model name or --all, e.g. %lfw unload smollm2")
    freed = wb.unload_models() if args.all else [args.name] if wb.unload_model(args.name) else []
    print(f"unloaded {', '.join(freed)}" if freed else f"{args.name or 'nothing'} was not loaded")


@subcommand("info")
@magic_arguments("lfw info")
@argument("name", help="a registered model")
def info(ctx: Invocation, args) -> Record:
    """Everything about one model: its settings and what its backend chose."""
    return Record(ctx.workbench.model_info(args.name))


@subcommand("health")
@magic_arguments("lfw health")
def health(ctx: Invocation, args) -> Rows:
    """Can each model run? Files present, keys set (cheap checks, nothing loads)."""
    return Rows(ctx.workbench.model_health(), ["name", "ok", "detail"], empty="no models", marks={"ok": ("✓", "✗")})


class Stats(Rows):
    """Per-model rows plus the process totals (`.totals`) on a line below the table."""

    def __init__(self, stats: dict):
        from ..runtimes.memory import format_bytes

        rows = [dict(r, memory=format_bytes(r["bytes"]) if r["loaded"] else "") for r in stats["models"]]
        super().__init__(
            rows, ["name", "loaded", "memory", "load_s", "runs", "tokens_out", "last_tok_s"], empty="no models"
        )
        self.totals = {k: v for k, v in stats.items() if k != "models"}
        self.summary = (
            f"process RSS {format_bytes(stats['rss_bytes'])} · models {format_bytes(stats['used_bytes'])} "
            f"of a {format_bytes(stats['budget_bytes'])} budget"
        )

    def as_text(self) -> str:
        return super().as_text() + "\n" + self.summary

    def _repr_html_(self) -> str:
        import html

        return super()._repr_html_() + f"<p>{html.escape(self.summary)}</p>"


def _memory(n: int) -> str:
    from ..runtimes.memory import format_bytes

    return format_bytes(n)


@subcommand("stats")
@magic_arguments("lfw stats")
def stats(ctx: Invocation, args) -> Stats:
    """Per model: loaded, memory, load time, runs, tokens out, last tok/s; process memory and budget."""
    return Stats(ctx.workbench.model_stats())


@subcommand("panel models")
@magic_arguments("lfw panel models")
def panel_models(ctx: Invocation, args):
    """A live panel of the models: load/unload buttons, memory against the budget, stats."""
    from ..widgets.models_panel import ModelsPanel

    return ModelsPanel(ctx.workbench)
