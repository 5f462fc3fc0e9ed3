"""Remote models and money: `%lfw key`, `alias`, `budget`, `cost`."""

from __future__ import annotations

import getpass

from IPython.core.magic_arguments import argument, magic_arguments

from ..errors import BadInput
from .registry import Invocation, subcommand
from .rows import Record, Rows


@subcommand("key")
@magic_arguments("lfw key")
@argument("provider", help="a provider a backend declares (gemini, ...), or a registered model's name")
@argument("--clear", action="store_true", help="forget the key given for this session")
def key(ctx: Invocation, args) -> None:
    """Type an API key at a hidden prompt; it stays in memory for this session, never saved or shown."""
    wb = ctx.workbench
    if args.clear:
        wb.use_key(args.provider, None)
        print(f"forgot the session key for {args.provider}")
        return
    wb.check_provider(args.provider)  # a bad name is one clear line, before the prompt
    secret = getpass.getpass(f"API key for {args.provider} (hidden; kept only for this session): ")
    served = wb.use_key(args.provider, secret)
    print(
        f"key set for this session (not saved) — used by {', '.join(served) or f'{args.provider} models you register'}"
    )


@subcommand("alias")
@magic_arguments("lfw alias")
@argument("spec", nargs="*", help="NAME = MODEL[, MODEL ...]; NAME alone shows it; nothing lists all")
@argument("--delete", action="store_true", help="forget the alias NAME")
def alias(ctx: Invocation, args) -> Rows | Record | None:
    """A fallback chain tried in order: %lfw alias best = gemini-2.5-pro, smollm2 (kept in the store).

    A link is skipped (and the run says why) when its key is missing, its retries run out,
    the budget refuses it, or a local model cannot fit in memory.
    """
    wb = ctx.workbench
    text = " ".join(args.spec)
    name, sep, chain = (part.strip() for part in text.partition("="))
    if args.delete:
        if not name or sep:
            raise BadInput("usage: %lfw alias NAME --delete")
        wb.remove_alias(name)
        print(f"removed alias {name}")
        return None
    if sep:
        models = [m.strip() for m in chain.split(",") if m.strip()]
        if not name:
            raise BadInput("usage: %lfw alias NAME = MODEL[, MODEL ...]")
        return Record({"alias": name, "models": " → ".join(wb.set_alias(name, models))})
    rows = [{"alias": n, "models": " → ".join(m)} for n, m in sorted(wb.aliases().items()) if not name or n == name]
    if name and not rows:
        raise BadInput(f"no alias named {name!r} — make one with %lfw alias {name} = MODEL, MODEL")
    return Rows(rows, ["alias", "models"], empty="no aliases — %lfw alias best = gemini-2.5-pro, smollm2")


@subcommand("budget")
@magic_arguments("lfw budget")
@argument("scope", nargs="?", choices=["project", "session"], help="whose limit to set")
@argument("amount", nargs="?", help="USD, or 'off' to remove the limit")
def budget(ctx: Invocation, args) -> Record:
    """Show spend and limits, or set one: %lfw budget project 5 | session 0.50 | project off.

    A call whose worst case (prompt + max tokens at the price table's rates) would pass a
    limit is refused before it is sent.
    """
    wb = ctx.workbench
    if args.scope and args.amount is None:
        raise BadInput(f"give an amount in USD or 'off', e.g. %lfw budget {args.scope} 5")
    if args.scope:
        try:
            amount = None if args.amount.lower() in ("off", "none") else float(args.amount.lstrip("$"))
        except ValueError:
            raise BadInput(f"a budget is an amount in USD or 'off', got {args.amount!r}") from None
        return Record(wb.set_budget(args.scope, amount))
    return Record(wb.budget())


@subcommand("cost")
@magic_arguments("lfw cost")
@argument("--by", choices=["model", "project", "day"], help="group the spend (default: a summary)")
@argument("--all", action="store_true", help="every project, not only the current one")
def cost(ctx: Invocation, args) -> Rows | Record:
    """What runs cost: this project and session, or grouped --by model | project | day."""
    wb = ctx.workbench
    if args.by is None:
        summary = wb.budget()
        summary["all_projects_usd"] = round(sum(r["cost_usd"] for r in wb.costs("project")), 6)
        return Record(summary)
    rows = wb.costs(args.by, all_projects=args.all)
    return Rows(
        rows, [args.by, "runs", "input_tokens", "output_tokens", "thinking_tokens", "cost_usd"], empty="no runs yet"
    )
