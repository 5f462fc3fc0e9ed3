"""`%%lfw generate`: the cell body is the prompt; the answer streams into the cell."""

from __future__ import annotations

from IPython.core.magic_arguments import argument, magic_arguments

from ..errors import BadInput
from ..pipelines.templates import fill_template
from .live import LiveOutput
from .registry import Invocation, check_output, given, subcommand


@subcommand("generate", cell="required")
@magic_arguments("lfw generate")
@argument("-m", "--model", help="a registered model or alias (default: smollm2); see %%lfw models")
@argument("--max-tokens", type=int, help="stop after this many tokens (default: GenerationConfig's max_tokens)")
@argument("--temperature", type=float, default=0.7, help="0 is greedy: same prompt, same text")
@argument("--top-p", type=float, default=0.95, help="nucleus sampling (default 0.95)")
@argument("--top-k", type=int, default=40, help="sample among the k likeliest tokens (default 40)")
@argument("--seed", type=int, help="random seed, for repeatable sampling")
@argument(
    "--repeat-penalty",
    type=float,
    default=1.1,
    help="local models: >1 discourages repeating recent tokens, 1 is off (default 1.1)",
)
@argument("--system", help="a system prompt")
@argument("--stop", action="append", help="stop at this text (repeatable)")
@argument("--raw", action="store_true", help="send the body as is, without the chat template")
@argument(
    "-f",
    "--format",
    choices=["markdown", "code", "text"],
    default="markdown",
    help="how the finished answer renders (default markdown)",
)
@argument(
    "--schema",
    metavar="NAME",
    help="answer as JSON this schema allows: a Pydantic model or JSON Schema dict in the notebook, or a .json file",
)
@argument("--json", action="store_true", help="answer as a JSON object (any)")
@argument(
    "--cache",
    action="store_true",
    help="at temperature 0 or with --seed: take the answer of an earlier run with the same prompt, model and settings",
)
@argument("-o", "--output", metavar="VAR", help="also store the text (with --schema/--json: the parsed value) in VAR")
def generate(ctx: Invocation, args):
    """Generate text from the cell body, streaming into the cell; every run is saved.

    `{name}` in the body takes the value of `name` from the notebook; `{{name}}` is a literal
    `{name}`. Returns the run (`_.text`, `_.run_id`). With `--schema Order` the answer is
    decoded under the schema and shown as JSON; `_.data` is the parsed value (an `Order`).
    With `--cache --temperature 0` (or `--seed`), an answer the project has for the same prompt,
    model and settings is shown again, a new run that names it, without asking the model.
    """
    check_output(args.output)
    if args.raw and args.system:
        raise BadInput("--system goes through the chat template; leave out --raw to use it")
    if args.schema and args.json:
        raise BadInput("--json is any JSON object, --schema one schema's: give one of them")
    schema = None
    if args.schema or args.json:
        from ..structured import resolve_schema

        schema = resolve_schema(args.schema or "json", ctx.user_ns)
    # IPython ends every cell body with a newline; it is not part of the prompt.
    prompt = fill_template(ctx.cell or "", ctx.user_ns).rstrip("\r\n")
    wb = ctx.workbench
    settings = given(
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        top_k=args.top_k,
        seed=args.seed,
        stop=args.stop or [],
        repeat_penalty=args.repeat_penalty,
    )
    result = LiveOutput().follow(
        wb.start_generate(
            prompt, model=args.model, system=args.system, raw=args.raw, schema=schema, cache=args.cache, **settings
        ),
        format=args.format,
    )
    if args.output:
        ctx.user_ns[args.output] = result.data if schema is not None else result.text
    return result
