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

from ..errors import SchemaUnsupported

# Whitespace allowed between two JSON tokens when a prefill is laid out otherwise than the grammar
# (see _compiled): about what llama.cpp's grammar allows (a newline and 12 spaces).
MAX_WHITESPACE = 13
_CPP_PREFIX = re.compile(r"^\[[\d:]+\] \S+:\d+: ")  # "[13:00:08] /project/cpp/x.cc:49: "


class SchemaGrammar:
    """One loaded model's grammar compiler: its vocabulary read once (about a second for
    SmolLM2's 49k tokens), then each schema compiled once (xgrammar caches them)."""

    def __init__(self, tokenizer, model):
        import xgrammar as xgr

        self.stop_ids = stop_token_ids(tokenizer, model)
        self.width = model.get_output_embeddings().weight.shape[0]  # the logits' width, padding included
        info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=self.width, stop_token_ids=self.stop_ids)
        self._compiler = xgr.GrammarCompiler(info)

    def processor(self, json_schema: dict, prefill: str | None):
        """A fresh logits processor for one generation under `json_schema`, already past
        `prefill` (which the prompt ends with). A schema or prefill it cannot take: one line."""
        import xgrammar as xgr

        matcher = xgr.GrammarMatcher(self._compiled(json_schema, any_layout=False))
        if prefill and not matcher.accept_string(prefill):  # a prefill in a layout of its own
            matcher = xgr.GrammarMatcher(self._compiled(json_schema, any_layout=True))
            if not matcher.accept_string(prefill):
                raise SchemaUnsupported(f"the prefill {_short(prefill)!r} does not start an answer the schema "
                                        "allows — start it with the JSON the schema expects, or leave it out")
        return GrammarMask(matcher, self.width)

    def _compiled(self, json_schema: dict, any_layout: bool):
        # JSON laid out as json.dumps(indent=2) writes it, SmolLM2's own habit: on its vocabulary the
        # order schema compiled in 17 ms this way, in 3.1 s allowing any whitespace between tokens.
        layout = dict(any_whitespace=True, max_whitespace_cnt=MAX_WHITESPACE) if any_layout else dict(
            any_whitespace=False, indent=2)
        try:
            return self._compiler.compile_json_schema(json.dumps(json_schema), **layout)
        except RuntimeError as e:
            raise SchemaUnsupported(f"constrained decoding cannot express the schema: {_first_line(e)}") from None


class GrammarMask:
    """A `model.generate` logits processor: the tokens the grammar forbids get -inf.

    It sees the sequence after each token is chosen, so the matcher takes the last token first
    (except on the first call: the prompt is not the answer). One per generation.
    """

    def __init__(self, matcher, vocab_size: int):
        import xgrammar as xgr

        self._xgr = xgr
        self.matcher = matcher
        self.bitmask = xgr.allocate_token_bitmask(1, vocab_size)
        self._started = False

    def __call__(self, input_ids, scores):
        if self._started and not self.matcher.is_terminated():
            self.matcher.accept_token(int(input_ids[0, -1]))
        self._started = True
        self.matcher.fill_next_token_bitmask(self.bitmask)
        device = scores.device.type
        # xgrammar's CUDA kernel needs triton (which PyTorch's CUDA wheels bring); elsewhere, plain torch.
        backend = "cpu" if device == "cpu" else "triton" if device == "cuda" and _has_triton() else "torch_native"
        self._xgr.apply_token_bitmask_inplace(scores, self.bitmask.to(scores.device), backend=backend)
        return scores


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
