"""llama.cpp decoding constrained to a JSON Schema, at close to the unconstrained speed.

llama-cpp-python turns a schema into a GBNF grammar and puts the grammar in its sampler chain,
where it checks every token of the vocabulary at every step: on SmolLM2 (49,152 tokens) that
ran at 0.55–0.64× the free speed (22 ms a step for the grammar). Here, as llama.cpp's own
`common_sampler` does, the token is sampled as usual first and only that one token is checked
against the grammar; when it breaks the grammar the 256 likeliest tokens are filtered, and the
whole vocabulary only when none of those fit. The answer is the same kind of sample (the
grammar's choices, by the model's probabilities), and most steps cost one check: 0.97× here.

Imported by the llama.cpp backend when it loads a model (it needs llama_cpp).
"""

from __future__ import annotations

import ctypes
import functools
import json
import math
from typing import Any

import llama_cpp
import numpy as np
from llama_cpp import Llama, LlamaGrammar
from llama_cpp.llama_grammar import json_schema_to_gbnf

# The converter allows one optional space between tokens; a model that writes its JSON over
# lines and indents would have nearly every whitespace token refused (and the whole vocabulary
# filtered). A newline and up to 12 spaces is how models indent; the bound (and no tabs) keeps
# a looping model from filling its answer with whitespace.
_SPACE_RULE = 'space ::= | " " | "\\n" " "{0,12}'
# Tokens the grammar filters first when the sampled one breaks it (see `sample`): sampling
# keeps the 40 likeliest anyway (top-k), so the allowed ones among 256 are nearly always those.
_SHORTLIST = 256
# The loop guard. A small model under a schema rarely repeats itself verbatim; it keeps adding
# items and tags until its token limit cuts the JSON mid-object. Over the last tokens of the
# budget, tokens that close something (a string, a list, an object) gain odds and a comma loses
# them, more as the end nears: the answer closes within its limit. The grammar still decides
# what may come next (a required key still comes).
_CLOSING_FROM = 48  # tokens left when the pressure starts
_CLOSING_BIAS = ((48, 3.0), (24, 8.0), (12, 30.0))  # (tokens left at most, logit bias)


# JSON allows no raw control characters in a string (json.loads refuses a newline there); the
# converter's character rule lets them through. llama.cpp's own converter leaves them out too.
_CHAR_RULE = (
    'char ::= [^"\\\\\\x7F\\x00-\\x1F] | "\\\\" (["\\\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F])'
)
_RULES = {"space ::=": _SPACE_RULE, "char ::=": _CHAR_RULE}


@functools.lru_cache(maxsize=32)
def _gbnf(schema_text: str) -> str:
    lines = json_schema_to_gbnf(schema_text).splitlines()
    return "\n".join(next((rule for start, rule in _RULES.items() if line.startswith(start)), line) for line in lines)


def schema_grammar(json_schema: dict) -> LlamaGrammar:
    """The grammar of answers `json_schema` allows (the text is cached per schema)."""
    # Not sort_keys: the converter writes properties in the order given, and that order matters
    # (a small model picks a part's kind far better after writing its label than before).
    return LlamaGrammar.from_string(_gbnf(json.dumps(json_schema)))


class GrammarLlama(Llama):
    """A `Llama` whose grammar sampling checks the sampled token first (see the module).

    `budget`: the answer's max tokens, set before a generation, for the loop guard."""

    budget: int | None = None
    _closing: tuple[np.ndarray, np.ndarray] | None = None

    def _init_sampler(self, *, grammar: LlamaGrammar | None = None, **kwargs: Any) -> Any:  # type: ignore[override]
        free = super()._init_sampler(grammar=None, **kwargs)
        if grammar is None:
            return free
        return _CheckedSampler(self, free, grammar, self.budget)

    def closing_tokens(self) -> tuple[np.ndarray, np.ndarray]:
        """(tokens that only close: `"`, `]`, `}` and space; tokens with a comma), by id."""
        if self._closing is None:
            closers, commas = [], []
            for token in range(self._n_vocab):
                text = self._model.token_get_text(token)
                core = text.replace("Ġ", "").replace("Ċ", "").strip()
                if core and set(core) <= set('"]}'):
                    closers.append(token)
                elif "," in text:
                    commas.append(token)
            self._closing = (np.array(closers, dtype=np.int64), np.array(commas, dtype=np.int64))
        return self._closing


class _CheckedSampler:
    """What `Llama.generate` samples with: `sample(ctx, idx)` returns the next token."""

    def __init__(self, llama: GrammarLlama, free: Any, grammar: LlamaGrammar, budget: int | None):
        self._free = free  # the usual chain: penalties, top-k, top-p, min-p, temperature, dist
        self._grammar = llama_cpp.llama_sampler_init_grammar(
            llama._model.vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8")
        )
        if not self._grammar:
            raise ValueError("llama.cpp could not parse the schema's grammar")
        self._n_vocab = llama._n_vocab
        self._data = (llama_cpp.llama_token_data * self._n_vocab)()
        self._view = np.ctypeslib.as_array(self._data)
        self._ids = np.arange(self._n_vocab, dtype=self._view["id"].dtype)
        self._one = (llama_cpp.llama_token_data * 1)()
        self._left = budget
        none = np.zeros(0, dtype=np.int64)
        closing: tuple[np.ndarray, np.ndarray] = llama.closing_tokens() if budget is not None else (none, none)
        self._closers, self._commas = closing

    def _candidates(
        self, ctx: Any, idx: int, shortlist: int | None = None, bias: float = 0.0
    ) -> llama_cpp.llama_token_data_array:
        """The next token's candidates: the whole vocabulary, or its `shortlist` likeliest (and
        the closing tokens, when `bias` favours them)."""
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx.ctx, idx), shape=(self._n_vocab,))
        if bias:
            logits = logits.copy()
            logits[self._closers] += bias
            logits[self._commas] -= bias
        ids = self._ids if shortlist is None else np.argpartition(logits, -shortlist)[-shortlist:]
        if bias and shortlist is not None:
            ids = np.union1d(ids, self._closers)
        size = len(ids)
        self._view["id"][:size] = ids
        self._view["logit"][:size] = logits[ids]
        self._view["p"][:size] = 0.0
        return llama_cpp.llama_token_data_array(data=self._data, size=size, selected=-1, sorted=False)

    def _allowed(self, token: int) -> bool:
        self._one[0] = llama_cpp.llama_token_data(token, 0.0, 0.0)
        one = llama_cpp.llama_token_data_array(data=self._one, size=1, selected=-1, sorted=False)
        llama_cpp.llama_sampler_apply(self._grammar, ctypes.byref(one))
        return math.isfinite(self._one[0].logit)

    def _pick(self, candidates: llama_cpp.llama_token_data_array, grammar: bool) -> int | None:
        """The token sampled from `candidates` (those the grammar allows, with `grammar`); None
        when the grammar allows none of them."""
        if grammar:
            llama_cpp.llama_sampler_apply(self._grammar, ctypes.byref(candidates))
            if not np.isfinite(self._view["logit"][: candidates.size]).any():
                return None
        llama_cpp.llama_sampler_apply(self._free.sampler, ctypes.byref(candidates))
        return int(candidates.data[candidates.selected].id)

    def _bias(self) -> float:
        if self._left is None or self._left > _CLOSING_FROM:
            return 0.0
        return max(bias for left, bias in _CLOSING_BIAS if self._left <= left)

    def sample(self, ctx: Any, idx: int = -1) -> int:
        bias = self._bias()
        token = None if bias else self._pick(self._candidates(ctx, idx), grammar=False)
        if token is None or not self._allowed(token):
            # The grammar nearly always allows some of the likeliest tokens: filter those, and
            # the whole vocabulary (22 ms for SmolLM2's 49,152 tokens) only when it allows none.
            token = self._pick(self._candidates(ctx, idx, _SHORTLIST, bias), grammar=True)
            if token is None:
                token = self._pick(self._candidates(ctx, idx, None, bias), grammar=True)
        assert token is not None  # a grammar that allows no token at all cannot be parsed
        for stage in (self._grammar, self._free.sampler):
            llama_cpp.llama_sampler_accept(stage, token)
        if self._left is not None:
            self._left -= 1
        return token

    def __del__(self) -> None:
        grammar, self._grammar = getattr(self, "_grammar", None), None
        if grammar:
            llama_cpp.llama_sampler_free(grammar)
