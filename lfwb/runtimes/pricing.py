"""What a remote call costs: the price table and the arithmetic.

    >>> from lfwb.runtimes.pricing import Prices
    >>> round(Prices().cost_usd("gemini-2.5-pro", input_tokens=1000, output_tokens=2000), 6)
    0.02125

Prices are USD per 1M tokens, read from `prices.json` next to this module. A user file
(`%config Lfwb.prices_path = "prices.json"` or `$LFWB_PRICES`) is merged over it, so it can
change a price or add a model. A model that is not in the table costs 0 (local models,
self-hosted OpenAI-compatible servers). A manager prices its models by the table in its
`RuntimeSettings.prices`.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import BadInput

PRICES_ENV = "LFWB_PRICES"
BUNDLED = Path(__file__).with_name("prices.json")
# Bytes per token for the local prompt estimate: English runs ~4 characters a token, so 3
# bytes errs high, and a 3-byte CJK character counts as a whole token.
_BYTES_PER_TOKEN = 3
_TOKENS_PER_MESSAGE = 8  # role markers and separators

_cache: dict[tuple, dict] = {}  # a parsed file by (path, mtime): a changed file is read again


@dataclass(frozen=True)
class Price:
    """USD per 1M tokens for one prompt-size tier."""

    input: float
    output: float


class Prices:
    """The bundled table with the user's file at `path` merged over it (None: $LFWB_PRICES, if
    set). The file is checked now, so a bad one is one clear line when it is given; a file
    that changes later is read again."""

    def __init__(self, path: str | None = None):
        self.path = path or None
        if self.path:
            _read(Path(self.path).expanduser())

    def table(self) -> dict[str, dict]:
        table = dict(_read(BUNDLED))
        user = self.path or os.environ.get(PRICES_ENV)
        if user:
            table.update(_read(Path(user).expanduser()))
        return table

    def price_for(self, model_id: str, prompt_tokens: int) -> Price | None:
        """The price tier that applies to a prompt of this size; None if the model is not priced."""
        entry = _entry(self.table(), model_id)
        if entry is None:
            return None
        tiers = entry.get("tiers") or [entry]
        for tier in tiers:
            limit = tier.get("up_to_prompt_tokens")
            if limit is None or prompt_tokens <= limit:
                return Price(float(tier["input"]), float(tier["output"]))
        last = tiers[-1]
        return Price(float(last["input"]), float(last["output"]))

    def is_priced(self, model_id: str) -> bool:
        return _entry(self.table(), model_id) is not None

    def cost_usd(self, model_id: str, input_tokens: int | None, output_tokens: int | None) -> float | None:
        """USD for one call; `output_tokens` includes thinking. None when the model is not priced."""
        prompt = int(input_tokens or 0)
        price = self.price_for(model_id, prompt)
        if price is None:
            return None
        return (prompt * price.input + int(output_tokens or 0) * price.output) / 1_000_000

    def worst_case_usd(self, model_id: str, prompt_tokens: int, max_tokens: int) -> float | None:
        """The most a call can cost: the whole prompt plus `max_tokens` of output (thinking included)."""
        return self.cost_usd(model_id, prompt_tokens, max_tokens)


def _read(path: Path) -> dict[str, dict]:
    try:
        stamp = (str(path), path.stat().st_mtime_ns)
    except OSError:
        raise BadInput(f"no price table at {path} — fix %config Lfwb.prices_path / ${PRICES_ENV}") from None
    if stamp not in _cache:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, OSError) as e:
            raise BadInput(f"the price table {path} is not valid JSON ({e}) — fix it") from None
        if not isinstance(data, dict):
            raise BadInput(f"the price table {path} must be a JSON object of model → prices")
        table = {k: v for k, v in data.items() if not k.startswith("_")}
        for model, entry in table.items():
            _check_entry(path, model, entry)
        _cache[stamp] = table
    return _cache[stamp]


def _check_entry(path: Path, model: str, entry: object) -> None:
    tiers = entry.get("tiers", [entry]) if isinstance(entry, dict) else None
    ok = (
        isinstance(tiers, list)
        and tiers
        and all(
            isinstance(t, dict) and all(isinstance(t.get(k), (int, float)) and t[k] >= 0 for k in ("input", "output"))
            for t in tiers
        )
    )
    if not ok:
        raise BadInput(
            f"price table {path}: {model!r} needs input and output prices per 1M tokens, "
            'e.g. {"input": 1.25, "output": 10.0} or {"tiers": [...]}'
        )


def _entry(table: dict[str, dict], model_id: str) -> dict | None:
    """The table entry for a model id: exact, else the longest key it extends
    (`gemini-2.5-pro-preview-06-05` is priced as `gemini-2.5-pro`)."""
    model_id = model_id.removeprefix("models/")
    if model_id in table:
        return table[model_id]
    stems = [k for k in table if model_id.startswith(k + "-")]
    return table[max(stems, key=len)] if stems else None


def estimate_tokens(text: str) -> int:
    """A local, deliberately high count of the tokens in `text` (no tokenizer, no request)."""
    return math.ceil(len(text.encode("utf-8")) / _BYTES_PER_TOKEN)


def estimate_prompt_tokens(prompt: str | None, messages: list[dict] | None) -> int:
    if messages is None:
        return estimate_tokens(prompt or "")
    return sum(estimate_tokens(str(m.get("content") or "")) + _TOKENS_PER_MESSAGE for m in messages)
