"""Pipelines: `%%lfw pipeline NAME`, `%lfw pipelines`, `%lfw pipeline load|show`, `%lfw run`, `%lfw rerun`,
`%lfw timeline`, `%lfw panel pipeline`.

    %%lfw pipeline ui
    description: Analyse a UI request, then write the component
    steps:
      - name: analyse
        model: smollm2
        prompt: "List the parts of this interface: {input}"
      - name: code
        model: smollm2
        prompt: "Write one React component (JSX) for: {steps.analyse.output}"

prints `saved ui v1 (2 steps: analyse → code)`. The definition is checked first (one line
naming the step and the fault, nothing saved); the Workbench does the work.

    %lfw run ui --input "a login form"      # each step streams into its own area of the cell
    %lfw rerun 12 --from code               # a new run reusing the steps before `code`
    %lfw run ui --over requests.csv --concurrency 4   # one run per input: a progress bar, a table
    %lfw timeline 12                        # a bar per step, coloured by model, its wait for the model lighter
    %lfw panel pipeline                     # the same with a dropdown, Run and Stop buttons
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from IPython.core.magic_arguments import argument, magic_arguments

from ..errors import BadInput
from .registry import Invocation, check_output, given, positive_int, subcommand
from .rows import Record, Rows

if TYPE_CHECKING:  # lfwb.handles is imported when a run starts, not at %load_ext time
    from IPython.display import DisplayHandle

    from ..handles import Handle

TABLE_ENDS = 5  # a batch's table shows its first and last 5 runs and how many lie between


@subcommand("pipeline", cell="required")
@magic_arguments("lfw pipeline")
@argument("name", help="the pipeline's name, e.g. ui-component")
def pipeline(ctx: Invocation, args) -> None:
    """Save the cell body (YAML: description, steps) as pipeline NAME; a change is a new version."""
    saved = ctx.workbench.save_pipeline(ctx.cell or "", name=args.name)
    print(saved)


@subcommand("pipeline load")
@magic_arguments("lfw pipeline load")
@argument("file", help="a .yaml file; named by its `name:` key, else its file name")
def pipeline_load(ctx: Invocation, args) -> None:
    """Check and save a pipeline from a YAML file (a change is a new version)."""
    from ..pipelines.library import read_file

    print(ctx.workbench.save_pipeline(read_file(args.file)))


@subcommand("pipeline show")
@magic_arguments("lfw pipeline show")
@argument("name", help="a saved or bundled pipeline")
@argument("--version", type=positive_int, help="this version (default: the latest)")
def pipeline_show(ctx: Invocation, args) -> Record:
    """Show a pipeline's definition: version, steps in order, and its YAML."""
    spec = ctx.workbench.pipeline(args.name, args.version)
    return Record(
        name=spec.name,
        version=spec.version if spec.version else "bundled (not saved)",
        description=spec.description,
        steps=spec.summary(),
        yaml=spec.to_yaml().strip(),
    )


@subcommand("pipelines")
@magic_arguments("lfw pipelines")
def pipelines(ctx: Invocation, args) -> Rows:
    """List pipelines: saved ones with their latest version, and the bundled ones."""
    return Rows(
        ctx.workbench.pipelines(),
        ["name", "version", "versions", "source", "steps", "order", "description"],
        empty="no pipelines",
    )


# -- running -----------------------------------------------------------------------------


@subcommand("run")
@magic_arguments("lfw run")
@argument("name", help="a saved or bundled pipeline, e.g. ui-component (see %%lfw pipelines)")
@argument("--input", help="the text that fills {input}")
@argument("-i", "--input-var", metavar="VAR", help="fill {input} from the notebook variable VAR")
@argument(
    "--over",
    metavar="SOURCE",
    help="a batch: run once per input of SOURCE — a list variable in the notebook (a name there "
    'wins), else a .csv file with an `input` column or a .jsonl file (strings or {"input": ...})',
)
@argument(
    "--concurrency",
    type=positive_int,
    metavar="N",
    help="with --over: at most N pipeline runs at once (default 1 with a local model, 4 if all are remote)",
)
@argument("--max-tokens", type=positive_int, help="cap every step at this many tokens")
@argument("--temperature", type=float, help="every step's temperature (0 is greedy: repeatable)")
@argument("--seed", type=int, help="every step's random seed, for repeatable sampling")
@argument(
    "--no-cache",
    action="store_true",
    help="run every step, even one whose answer the step cache holds (temperature 0 or a seed)",
)
@argument("-o", "--output", metavar="VAR", help="also store the result in the variable VAR")
def run(ctx: Invocation, args):
    """Run a pipeline: each step streams into its own area; every step and artifact is saved.

    Independent steps run at the same time. A step at temperature 0 (or with a seed) whose
    filled prompt, model and settings match a finished one takes its answer, `cached`. Returns the run (`_.steps["name"].text`,
    `_.artifacts`, `_.run_id`, `_.status`); a stop cancels every running step. With `--over`,
    one run per input under a progress bar, and a table of the runs.
    """
    check_output(args.output)
    if args.input is not None and args.input_var is not None:
        raise BadInput("give --input TEXT or -i VAR, not both")
    if args.over is not None:
        return _batch(ctx, args)
    if args.concurrency is not None:
        raise BadInput("--concurrency is for a batch: give --over SOURCE too")
    text = args.input or ""
    if args.input_var is not None:
        if args.input_var not in ctx.user_ns:
            raise BadInput(f"-i {args.input_var}: no variable named {args.input_var!r} in the notebook")
        text = str(ctx.user_ns[args.input_var])
    settings = _overrides(args)
    handle = ctx.workbench.start_pipeline(args.name, text, namespace=ctx.user_ns, cache=not args.no_cache, **settings)
    return _follow(ctx, args.output, handle)


@subcommand("rerun")
@magic_arguments("lfw rerun")
@argument("run_id", type=positive_int, help="a pipeline run (see %%lfw runs)")
@argument(
    "--from",
    dest="from_step",
    metavar="STEP",
    help="reuse the outputs of the steps before STEP; run STEP and the steps after it",
)
@argument("-o", "--output", metavar="VAR", help="also store the result in the variable VAR")
def rerun(ctx: Invocation, args):
    """Run a pipeline run again as a new run (same definition, input and settings)."""
    check_output(args.output)
    return _follow(ctx, args.output, ctx.workbench.start_rerun(args.run_id, args.from_step, namespace=ctx.user_ns))


@subcommand("timeline")
@magic_arguments("lfw timeline")
@argument("run_id", type=positive_int, help="a pipeline run (see %%lfw runs)")
def timeline(ctx: Invocation, args):
    """Chart a pipeline run's steps: a bar per step, coloured by model; a step's wait for its model
    (steps on one local model take turns) is a lighter segment before its bar."""
    from ..pipelines.timeline import timeline_figure

    bars = ctx.workbench.timeline(args.run_id)
    figure = timeline_figure(bars, title=f"pipeline run {args.run_id}")
    show_figures_as_png(ctx.shell)
    return figure


@subcommand("panel pipeline")
@magic_arguments("lfw panel pipeline")
def panel_pipeline(ctx: Invocation, args):
    """A panel: pick a pipeline and an input, Run and Stop, a row per step, then its timeline and artifacts."""
    from ..widgets.pipeline_panel import PipelinePanel

    return PipelinePanel(ctx.workbench, namespace=ctx.user_ns)


def show_figures_as_png(shell) -> None:
    """Let the notebook draw a returned matplotlib Figure as PNG without `%matplotlib inline`
    (which would pick a pyplot backend); idempotent."""
    if shell is None:
        return
    from IPython.core.pylabtools import print_figure
    from matplotlib.figure import Figure

    shell.display_formatter.formatters["image/png"].for_type(Figure, lambda fig: print_figure(fig, "png"))


def _overrides(args) -> dict:
    """The settings `%lfw run` gives every step (checked with each step's own, before anything runs)."""
    return given(max_tokens=args.max_tokens, temperature=args.temperature, seed=args.seed)


def _batch(ctx: Invocation, args) -> Rows:
    from ..handles import Update
    from ..pipelines.batch import COLUMNS, read_inputs
    from ..stops import Cancelled

    if args.input is not None or args.input_var is not None:
        raise BadInput("give --over SOURCE for a batch, or --input / -i for one run, not both")
    inputs = read_inputs(args.over, ctx.user_ns)
    settings = _overrides(args)
    bar = BatchBar()
    handle = ctx.workbench.start_batch(
        args.name, inputs, concurrency=args.concurrency, namespace=ctx.user_ns, cache=not args.no_cache, **settings
    )
    handle.listen(lambda event: bar.update(event.value) if isinstance(event, Update) else None)
    try:
        rows = handle.result()  # here, on the cell's thread: Ctrl-C stops the batch
    except Cancelled as stop:  # show the runs as they ended, then its one line
        if stop.result is not None:
            bar.finish()
            from IPython.display import display

            display(Rows(stop.result, COLUMNS, ends=TABLE_ENDS))
        raise
    bar.finish()
    table = Rows(rows, COLUMNS, empty="no inputs", ends=TABLE_ENDS)
    if args.output:
        ctx.user_ns[args.output] = table
    return table


class BatchBar:
    """A batch's progress: one display (a bar over `3/10 · 1 failed · 12.4 s · about 28 s left`)
    redrawn from the cell's thread. A terminal cannot redraw: there it prints the last line once."""

    def __init__(self) -> None:
        from .live import in_terminal

        self.terminal = in_terminal()
        self.handle = None
        self.last = None

    def update(self, progress) -> None:
        import html

        from IPython.display import display

        self.last = progress
        line = progress.line()
        if self.terminal:
            return
        data = {
            "text/plain": line,
            "text/html": f'<progress value="{progress.ended}" max="{progress.total}"></progress> '
            f"<code>{html.escape(line)}</code>",
        }
        if self.handle is None:
            self.handle = display(data, raw=True, display_id=True)
        else:
            self.handle.update(data, raw=True)

    def finish(self) -> None:
        # The batch's last update came once every run had ended: a display already shows it.
        if self.terminal and self.last is not None:
            print(self.last.line())


def _follow(ctx: Invocation, output: str | None, handle: Handle):
    """Run `handle` (a pipeline run's) here, on the cell's thread, each step in its own area."""
    from ..handles import Update
    from ..stops import Cancelled

    areas = StepAreas()
    handle.listen(lambda event: areas.update(event.value) if isinstance(event, Update) else None)
    try:
        result = handle.result()
    except Cancelled as stop:  # the rows are finished; show the steps as they ended
        if stop.result is not None:
            areas.update(stop.result, final=True)
        raise
    areas.update(result, final=True)
    _show_previews(result.artifacts, areas.terminal)
    if output:
        ctx.user_ns[output] = result
    return result


def _show_previews(artifacts: list[dict], terminal: bool) -> None:
    """A live preview under the steps for each JSX/TSX artifact the run made."""
    from ..preview import LANGUAGES

    if terminal or not any(a.get("kind") in LANGUAGES for a in artifacts):
        return
    from IPython.display import display

    from ..preview.widget import previews

    for preview in previews(artifacts):
        display(preview)


class StepAreas:
    """One display per step in the cell: a header (step · model · status · tokens · seconds)
    over its text, redrawn only when it changed (the executor calls at most 20 times a second).
    A terminal cannot redraw: there each step is printed once, when it ends."""

    def __init__(self) -> None:
        from .live import in_terminal

        self.terminal = in_terminal()
        self.handles: dict[str, DisplayHandle] = {}
        self.shown: dict[str, tuple] = {}

    def update(self, result, final: bool = False) -> None:
        import time

        from IPython.display import display

        now = time.perf_counter()
        for name, step in result.steps.items():
            if step.status == "pending" and not final:
                continue
            header = step.header(now)
            if self.shown.get(name) == (header, step.text):
                continue
            ended = step.status not in ("pending", "running")
            if self.terminal:
                if ended and name not in self.shown:
                    print(f"── {header}\n{step.text}".rstrip())
                    self.shown[name] = (header, step.text)
                continue
            self.shown[name] = (header, step.text)
            data = {"text/plain": f"── {header}\n{step.text}".rstrip()}
            if ended and step.text:
                from ..untrusted import answer_html

                data["text/html"] = answer_html(step.text, heading=header)
            metadata = {"lfwb": {"run_id": result.run_id, "step": name, "status": step.status}}
            if name in self.handles:
                self.handles[name].update(data, raw=True, metadata=metadata)
            else:
                self.handles[name] = display(data, raw=True, metadata=metadata, display_id=True)
