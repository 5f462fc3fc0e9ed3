"""`%lfw revise ARTIFACT_ID [-m MODEL] "instruction"`: a component's next version, from a model."""

from __future__ import annotations

from IPython.core.magic_arguments import argument, magic_arguments

from .live import LiveOutput
from .registry import Invocation, positive_int, subcommand


@subcommand("revise")
@magic_arguments("lfw revise")
@argument("artifact_id", type=positive_int, help="the JSX/TSX artifact to change; see %%lfw artifacts")
@argument("instruction", nargs="+", help='what to change, e.g. "make the button red and add a subtitle"')
@argument("-m", "--model", help="a registered model or alias (default: smollm2)")
@argument("--max-tokens", type=int, default=1024, help="room for the whole component (default 1024)")
@argument("--temperature", type=float, default=0.2, help="low: a revision should change what it is asked to")
@argument("--seed", type=int, help="random seed, for repeatable sampling")
def revise(ctx: Invocation, args):
    """Send a component and an instruction to a model; its answer streams into the cell, and
    the component in it is kept as the next version (`%lfw artifacts --versions ID`), shown
    beside the old one. An answer without a valid component keeps the run and makes no version."""
    instruction = " ".join(args.instruction)
    settings = dict(max_tokens=args.max_tokens, temperature=args.temperature, seed=args.seed)
    return LiveOutput().follow(ctx.workbench.start_revise(args.artifact_id, instruction, args.model, **settings))
