"""Evals: `%%lfw eval NAME` (define), `%lfw eval NAME --models A,B [--over ROWS] [--against RUN]`
(run), `%lfw eval show RUN`, `%lfw evals`.

    %%lfw eval sentiment
    prompt: "Is this review positive or negative? One word.\\n\\n{input}"
    checks:
      - contains
      - judge: smollm2
        rubric: The answer names the review's sentiment.

prints `saved sentiment v1 (prompt, 2 checks: contains, judge)`; then

    %lfw eval sentiment --models smollm2,fast --over reviews.csv     # a progress bar, then the report

The Workbench does the work (lfwb/workbench_evals.py, lfwb/evals/); the report renders itself.
"""

from __future__ import annotations

from IPython.core.magic_arguments import argument, magic_arguments

from ..errors import BadInput
from .pipelines import BatchBar, show_figures_as_png
from .registry import Invocation, check_output, given, positive_int, subcommand
from .rows import Rows


@subcommand("eval", cell="optional")
@magic_arguments("lfw eval")
@argument("name", help="the eval's name")
@argument("-m", "--models", metavar="A,B,...", help="the models to score, separated by commas")
@argument(
    "--over",
    metavar="ROWS",
    help="the rows: a list in the notebook, a .csv with an `input` column or a .jsonl file",
)
@argument("--against", type=positive_int, metavar="RUN", help="an earlier eval run: what got better, what regressed")
@argument("--max-tokens", type=positive_int, help="cap every answer at this many tokens")
@argument("--temperature", type=float, help="every answer's temperature (0 is greedy: repeatable)")
@argument("--seed", type=int, help="every answer's random seed")
@argument(
    "--no-cache",
    action="store_true",
    help="ask every model again (by default an answer whose request repeats an earlier one is taken from it)",
)
@argument("-o", "--output", metavar="VAR", help="also store the report in the variable VAR")
def eval_(ctx: Invocation, args):
    """Define an eval (a cell body: YAML with prompt or pipeline, and checks), run one, or both.

    A run sends each row to each model (remote ones at once, local ones in turn) under a progress
    bar, scores every answer, and returns the report: a table of model × check pass rates,
    tokens, cost and p50 latency, a chart, and the failing answers (`_.failures()`).
    """
    check_output(args.output)
    wb = ctx.workbench
    body = (ctx.cell or "").strip()
    if body and args.models is None and args.over is None and args.against is None:
        print(wb.save_eval(ctx.cell or "", args.name))
        return None
    models = None
    if args.models is not None:
        models = [m.strip() for m in args.models.split(",")]
        if not all(models):
            raise BadInput(f"--models takes model names separated by commas, got {args.models!r}")
    settings = given(max_tokens=args.max_tokens, temperature=args.temperature, seed=args.seed)
    show_figures_as_png(ctx.shell)  # `report.figure()` in a later cell draws as %lfw timeline's does
    report = follow(
        wb.start_eval(
            args.name,
            models,
            args.over,
            against=args.against,
            namespace=ctx.user_ns,
            cache=not args.no_cache,
            definition=ctx.cell if body else None,  # saved once the run is checked
            on_saved=print,
            **settings,
        )
    )
    if args.output:
        ctx.user_ns[args.output] = report
    return report


def follow(handle):
    """Run an eval's handle on the cell's thread under a progress bar (Ctrl-C stops it: the
    report of what was scored is shown, then its one line)."""
    from ..handles import Update
    from ..stops import Cancelled

    bar = BatchBar()
    handle.listen(lambda event: bar.update(event.value) if isinstance(event, Update) else None)
    try:
        report = handle.result()
    except Cancelled as stop:
        bar.finish()
        if stop.result is not None:
            from IPython.display import display

            display(stop.result)
        raise
    bar.finish()
    return report


@subcommand("eval show")
@magic_arguments("lfw eval show")
@argument("run_id", type=positive_int, help="an eval run (see %%lfw runs)")
@argument("--against", type=positive_int, metavar="RUN", help="an earlier eval run: what got better, what regressed")
@argument("-o", "--output", metavar="VAR", help="also store the report in the variable VAR")
def eval_show(ctx: Invocation, args):
    """Reopen an eval run: its table, chart and failing answers (and changes since --against)."""
    check_output(args.output)
    show_figures_as_png(ctx.shell)
    report = ctx.workbench.eval_report(args.run_id, against=args.against)
    if args.output:
        ctx.user_ns[args.output] = report
    return report


@subcommand("evals")
@magic_arguments("lfw evals")
def evals(ctx: Invocation, args):
    """List the saved evals (latest version each)."""
    return Rows(ctx.workbench.evals(), ["name", "version", "created_at"], empty="no evals yet — %%lfw eval NAME")
