"""`%%lfw compare -m A,B`: the cell body to several models, their answers side by side.

The work is `Workbench.start_compare`'s handle (lfwb/pipelines/compare.py); this face shows
it: one display in the cell holding a column per model, updated at most `MAX_UPDATES_PER_S`
times a second (the rate of `LiveOutput`: both are a `CellOutput`). A terminal cannot redraw
columns in place: there each model's answer is printed as a block when it ends.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from IPython.core.magic_arguments import argument, magic_arguments

from ..errors import BadInput
from ..pipelines.templates import fill_template
from .live import CellOutput
from .registry import Invocation, check_output, given, subcommand

if TYPE_CHECKING:  # lfwb.pipelines.compare pulls in the store: not at %load_ext time
    from ..pipelines.compare import CompareResult

ENDED = ("done", "failed", "cancelled", "not asked")


class CompareOutput(CellOutput):
    """One display in the running cell that follows a compare's columns
    (`Workbench.start_compare`'s handle: `CellOutput.follow`)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._printed_models: set[str] = set()  # a terminal's blocks printed so far
        self.result: CompareResult | None = None

    def on_event(self, event: Any) -> None:
        from ..handles import Started, Update

        if isinstance(event, Started):
            self.on_start(event.run)
        elif isinstance(event, Update):
            self.on_update(event.value)

    def ended(self, value: Any, format: str) -> None:
        self.finish(value)

    def ended_early(self, format: str) -> None:
        if self.result is not None:  # the columns as they were saved
            self.finish(self.result)

    def on_start(self, result: CompareResult) -> None:
        from IPython.display import display

        self.result = result
        if not self.terminal:
            data, metadata = result._repr_mimebundle_()
            self.handle = display(data, raw=True, display_id=True, metadata=metadata)

    def on_update(self, result: CompareResult) -> None:
        if self.terminal:
            self._print_ended(result)
        elif self.due():
            self._update(result)

    def finish(self, result: CompareResult) -> None:
        from ..runs import mark_shown

        if self.terminal:
            self._print_ended(result, every=True)
        elif self.handle is not None:
            self._update(result)
        mark_shown(result)  # shown already: Out[n] would only repeat it

    def _update(self, result: CompareResult) -> None:
        data, metadata = result._repr_mimebundle_()
        if self.handle is not None:  # shown once the compare started
            self.handle.update(data, raw=True, metadata=metadata)

    def _print_ended(self, result: CompareResult, every: bool = False) -> None:
        from ..pipelines.compare import column_text

        for model, run in result.results.items():
            if model not in self._printed_models and (every or run.status in ENDED):
                self._printed_models.add(model)
                sys.stdout.write(column_text(run) + "\n\n")
        sys.stdout.flush()


@subcommand("compare", cell="required")
@magic_arguments("lfw compare")
@argument(
    "-m",
    "--models",
    required=True,
    metavar="A,B,...",
    help="two or more registered models or aliases, separated by commas",
)
@argument(
    "--max-tokens", type=int, help="stop each answer after this many tokens (default: GenerationConfig's max_tokens)"
)
@argument("--temperature", type=float, default=0.7, help="0 is greedy: same prompt, same text")
@argument("--seed", type=int, help="random seed, for repeatable sampling")
@argument("--system", help="a system prompt, the same for every model")
@argument("-o", "--output", metavar="VAR", help="also store {model: text} in the variable VAR")
def compare(ctx: Invocation, args):
    """Send the cell body to several models and show their answers side by side.

    Remote models are asked at once, local ones in turn; each column shows its tokens, tok/s,
    TTFT and cost. Every answer is a run, under one parent run. `{name}` in the body takes the
    value of `name` from the notebook. Returns the comparison (`_.results["model"].text`, `_.run_id`).
    """
    check_output(args.output)
    models = [name.strip() for name in args.models.split(",")]
    if not all(models):
        raise BadInput(f"-m takes model names separated by commas, got {args.models!r}")
    # IPython ends every cell body with a newline; it is not part of the prompt.
    prompt = fill_template(ctx.cell or "", ctx.user_ns).rstrip("\r\n")
    wb = ctx.workbench
    settings = given(max_tokens=args.max_tokens, temperature=args.temperature, seed=args.seed)
    result = CompareOutput().follow(wb.start_compare(prompt, models, system=args.system, **settings))
    if args.output:
        ctx.user_ns[args.output] = {model: run.text for model, run in result.results.items()}
    return result
