"""llama.cpp decoding constrained to a JSON Schema, at close to the unconstrained speed.

llama-cpp-python turns a schema into a GBNF grammar and puts the grammar in its sampler chain,
where it checks every token of the vocabulary at every step: on SmolLM2 (49,152 tokens) that
ran at 0.58× the free speed. Here, as llama.cpp's own `common_sampler` does, the token is
sampled as usual first and only that one token is checked against the grammar; the whole
vocabulary is filtered only when it breaks the grammar. The answer is the same kind of sample
(the grammar's choices, by the model's probabilities), and most steps cost one check.

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
# filtered). A newline and up to 20 spaces or tabs is how models indent; the bound keeps a
# looping model from filling its answer with whitespace.
_SPACE_RULE = 'space ::= | " " | "\\n" [ \\t]{0,20}'


@functools.lru_cache(maxsize=32)
def _gbnf(schema_text: str) -> str:
    lines = json_schema_to_gbnf(schema_text).splitlines()
    return "\n".join(_SPACE_RULE if line.startswith("space ::=") else line for line in lines)


def schema_grammar(json_schema: dict) -> LlamaGrammar:
    """The grammar of answers `json_schema` allows (the text is cached per schema)."""
    # Not sort_keys: the converter writes properties in the order given, and that order matters
    # (a small model picks a part's kind far better after writing its label than before).
    return LlamaGrammar.from_string(_gbnf(json.dumps(json_schema)))


class GrammarLlama(Llama):
    """A `Llama` whose grammar sampling checks the sampled token first (see the module)."""

    def _init_sampler(self, *, grammar: LlamaGrammar | None = None, **kwargs: Any) -> Any:  # type: ignore[override]
        free = super()._init_sampler(grammar=None, **kwargs)
        if grammar is None:
            return free
        return _CheckedSampler(self, free, grammar)


class _CheckedSampler:
    """What `Llama.generate` samples with: `sample(ctx, idx)` returns the next token."""

    def __init__(self, llama: Llama, free: Any, grammar: LlamaGrammar):
        self._free = free  # the usual chain: penalties, top-k, top-p, min-p, temperature, dist
        self._grammar = llama_cpp.llama_sampler_init_grammar(
            llama._model.vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8"))
        if not self._grammar:
            raise ValueError("llama.cpp could not parse the schema's grammar")
        self._n_vocab = llama._n_vocab
        self._data = (llama_cpp.llama_token_data * self._n_vocab)()
        self._view = np.ctypeslib.as_array(self._data)
        self._ids = np.arange(self._n_vocab, dtype=self._view["id"].dtype)
        self._one = (llama_cpp.llama_token_data * 1)()

    def _candidates(self, ctx: Any, idx: int) -> llama_cpp.llama_token_data_array:
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx.ctx, idx), shape=(self._n_vocab,))
        self._view["id"] = self._ids
        self._view["logit"] = logits
        self._view["p"] = 0.0
        return llama_cpp.llama_token_data_array(data=self._data, size=self._n_vocab, selected=-1, sorted=False)

    def _allowed(self, token: int) -> bool:
        self._one[0] = llama_cpp.llama_token_data(token, 0.0, 0.0)
        one = llama_cpp.llama_token_data_array(data=self._one, size=1, selected=-1, sorted=False)
        llama_cpp.llama_sampler_apply(self._grammar, ctypes.byref(one))
        return math.isfinite(self._one[0].logit)

    def sample(self, ctx: Any, idx: int = -1) -> int:
        free = self._free.sampler
        candidates = self._candidates(ctx, idx)
        llama_cpp.llama_sampler_apply(free, ctypes.byref(candidates))
        token = int(candidates.data[candidates.selected].id)
        if not self._allowed(token):
            candidates = self._candidates(ctx, idx)
            llama_cpp.llama_sampler_apply(self._grammar, ctypes.byref(candidates))
            llama_cpp.llama_sampler_apply(free, ctypes.byref(candidates))
            token = int(candidates.data[candidates.selected].id)
        llama_cpp.llama_sampler_accept(self._grammar, token)
        llama_cpp.llama_sampler_accept(free, token)
        return token

    def __del__(self) -> None:
        grammar, self._grammar = getattr(self, "_grammar", None), None
        if grammar:
            llama_cpp.llama_sampler_free(grammar)
