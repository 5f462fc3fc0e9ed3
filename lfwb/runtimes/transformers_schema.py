"""Decoding a transformers model under a JSON Schema, with xgrammar (the library vLLM uses).

xgrammar turns the schema into a grammar over the model's vocabulary (compiled once per
schema and loaded model, then cached); while decoding, a matcher masks every token the grammar
does not allow next, so the answer is JSON the schema allows, not JSON hoped for. It was
chosen on SmolLM2 against lm-format-enforcer and outlines by per-token cost (see README).
xgrammar is imported when a schema is first used, never when lfwb is.

    >>> grammar = SchemaGrammar(tokenizer, model)
    >>> model.generate(..., logits_processor=[grammar.processor({"type": "object"}, prefill=None)])
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import SchemaUnsupported

# Whitespace the grammar allows between two JSON tokens: about what llama.cpp's grammar allows (a
# newline and 12 spaces, llama_grammar.py), so a model lays its JSON out as it likes but cannot
# fill its answer with blank lines.
MAX_WHITESPACE = 13
# The loop guard's pressure, as llama.cpp's (llama_grammar.py): (tokens left at most, logit bias).
CLOSING_BIAS = ((48, 3.0), (24, 8.0), (12, 30.0))
_CPP_PREFIX = re.compile(r"^\[[\d:]+\] \S+:\d+: ")  # "[13:00:08] /project/cpp/x.cc:49: "


class SchemaGrammar:
    """One loaded model's grammar compiler: its vocabulary read once (0.2-1 s for SmolLM2's
    49k tokens), then each schema compiled once (xgrammar caches them)."""

    def __init__(self, tokenizer, model):
        import xgrammar as xgr

        self.stop_ids = stop_token_ids(tokenizer, model)
        self.width = model.get_output_embeddings().weight.shape[0]  # the logits' width, padding included
        info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=self.width, stop_token_ids=self.stop_ids)
        self._compiler = xgr.GrammarCompiler(info)
        self.closers, self.commas = closing_tokens(tokenizer, model.device)

    def processor(self, json_schema: dict, prefill: str | None, budget: int | None = None):
        """A fresh logits processor for one generation of at most `budget` tokens under
        `json_schema`, already past `prefill` (which the prompt ends with). A schema or prefill
        it cannot take: one line."""
        import xgrammar as xgr

        try:
            compiled = self._compiler.compile_json_schema(
                json.dumps(json_schema), any_whitespace=True, max_whitespace_cnt=MAX_WHITESPACE
            )
        except RuntimeError as e:
            raise SchemaUnsupported(f"constrained decoding cannot express the schema: {_first_line(e)}") from None
        matcher = xgr.GrammarMatcher(compiled)
        if prefill and not matcher.accept_string(prefill):
            raise SchemaUnsupported(
                f"the prefill {_short(prefill)!r} does not start an answer the schema "
                "allows — start it with the JSON the schema expects, or leave it out"
            )
        return GrammarMask(matcher, self.width, budget, (self.closers, self.commas))


class GrammarMask:
    """A `model.generate` logits processor: the tokens the grammar forbids get -inf.

    It sees the sequence after each token is chosen, so the matcher takes the last token first
    (except on the first call: the prompt is not the answer). One per generation.
    Over the last tokens of the budget it is also the loop guard llama.cpp's path has
    (llama_grammar.py): tokens that close a string, list or object gain odds and commas lose
    them, more as the end nears, so the answer closes within its limit.
    """

    def __init__(self, matcher, vocab_size: int, budget: int | None = None, closing=None):
        import xgrammar as xgr

        self._xgr = xgr
        self.matcher = matcher
        self.bitmask = xgr.allocate_token_bitmask(1, vocab_size)
        self._started = False
        self._left = budget
        self._closers: Any = None  # id tensors (see closing_tokens); None: no loop guard
        self._commas: Any = None
        if closing is not None:
            self._closers, self._commas = closing

    def __call__(self, input_ids, scores):
        if self._started and not self.matcher.is_terminated():
            self.matcher.accept_token(int(input_ids[0, -1]))
        self._started = True
        bias = self._bias()
        if bias:
            scores[:, self._closers] += bias
            scores[:, self._commas] -= bias
        if self._left is not None:
            self._left -= 1
        self.matcher.fill_next_token_bitmask(self.bitmask)
        device = scores.device.type
        # xgrammar's CUDA kernel needs triton (which PyTorch's CUDA wheels bring); elsewhere, plain torch.
        backend = "cpu" if device == "cpu" else "triton" if device == "cuda" and _has_triton() else "torch_native"
        self._xgr.apply_token_bitmask_inplace(scores, self.bitmask.to(scores.device), backend=backend)
        return scores

    def _bias(self) -> float:
        if self._left is None or self._closers is None or self._left > CLOSING_BIAS[0][0]:
            return 0.0
        return max(bias for left, bias in CLOSING_BIAS if self._left <= left)


def closing_tokens(tokenizer, device):
    """(tokens that only close: `"`, `]`, `}` and spaces; tokens with a comma) as id tensors."""
    import torch

    closers, commas = [], []
    for token, text in enumerate(tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))):
        text = text or ""
        core = text.replace("Ġ", "").replace("Ċ", "").replace("▁", "").strip()
        if core and set(core) <= set('"]}'):
            closers.append(token)
        elif "," in text:
            commas.append(token)
    return (
        torch.tensor(closers, dtype=torch.long, device=device),
        torch.tensor(commas, dtype=torch.long, device=device),
    )


def stop_token_ids(tokenizer, model) -> list[int]:
    """Every token that ends an answer: the tokenizer's end token and the model's (Gemma has two)."""
    ids = model.generation_config.eos_token_id
    ids = list(ids) if isinstance(ids, (list, tuple)) else [] if ids is None else [ids]
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return [int(i) for i in ids]


def _has_triton() -> bool:
    from importlib.util import find_spec

    return find_spec("triton") is not None


def _first_line(error: BaseException) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return _CPP_PREFIX.sub("", lines[0]).strip() if lines else type(error).__name__


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
