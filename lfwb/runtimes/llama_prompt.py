"""A chat's prompt for llama.cpp as tokens that reuse what the model's KV cache already holds.

llama-cpp-python keeps the cache for the longest common *token* prefix of the new prompt and the
tokens in its context. A chat's next prompt carries the previous answer as text, and that text
tokenized again need not give the tokens the model sampled: a sampled " dep" + "icted" comes back
as " depicted", and from there on every token of the answer was evaluated again, each turn
(with sampling on, most answers of a few hundred tokens hold such a pair). So the prompt keeps
the cached tokens for as long as their text is the prompt's text and tokenizes only the rest.
The model reads the same text either way; where it would not, the plain tokens are sent.

    >>> prompt = ChatPrompt(llama, template)
    >>> tokens, stop, criteria = prompt.tokens(messages)          # for create_completion
    >>> prompt.tokens(messages, answer=False)[0]                  # a prefix to evaluate ahead

Imported by the llama.cpp backend when it loads a model (it needs llama_cpp).
"""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any, cast

import llama_cpp
from llama_cpp import Llama
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

if TYPE_CHECKING:
    from llama_cpp import ChatCompletionRequestMessage


class ChatPrompt:
    """The chat template of one loaded model, rendered to tokens (see the module docstring)."""

    def __init__(self, llama: Llama, template: str):
        self.llama = llama
        eos, bos = (token_text(llama, t) for t in (llama.token_eos(), llama.token_bos()))
        # One formatter that opens the answer (a turn), one that does not (a prefix to warm).
        self._formatters = {
            answer: Jinja2ChatFormatter(
                template=template,
                eos_token=eos,
                bos_token=bos,
                add_generation_prompt=answer,
                stop_token_ids=[llama.token_eos()],
            )
            for answer in (True, False)
        }
        self._pieces: dict[int, bytes] = {}

    def tokens(self, messages: list[dict], prefill: str = "", answer: bool = True) -> tuple[list[int], list, Any]:
        """(prompt tokens, stop strings, stopping criteria) for `messages`, the answer opened
        and started with `prefill`; `answer=False`: the messages alone, nothing opened."""
        chat = self._formatters[answer](messages=cast("list[ChatCompletionRequestMessage]", messages))
        tokens = self.reusing_cache(chat.prompt, add_bos=not chat.added_special)
        if prefill:  # the answer's text, not markup: a marker in it stays text
            tokens += self.llama.tokenize(prefill.encode("utf-8", "surrogatepass"), add_bos=False, special=False)
        stop = chat.stop if isinstance(chat.stop, list) else [chat.stop] if chat.stop else []
        return tokens, stop, chat.stopping_criteria

    def reusing_cache(self, text: str, add_bos: bool) -> list[int]:
        """`text` as tokens, starting with as many of the tokens in the context as spell its start."""
        llama = self.llama
        tokens = llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)
        cached = llama.input_ids[: llama.n_tokens].tolist()
        same = common_length(tokens, cached)
        head = 1 if add_bos else 0  # the BOS token has no text in `text`
        if same == len(cached) or same < head:
            return tokens
        data = text.encode("utf-8")
        taken, at = head, 0
        while taken < len(cached):
            piece = self.piece(cached[taken])
            if not piece or not data.startswith(piece, at):
                break
            taken, at = taken + 1, at + len(piece)
        while taken > head and at < len(data) and 0x80 <= data[at] < 0xC0:  # not inside a character
            taken -= 1
            at -= len(self.piece(cached[taken]))
        if taken <= same:
            return tokens
        spliced = cached[:taken] + llama.tokenize(data[at:], add_bos=False, special=True)
        # A tokenizer that adds a space before a text (SentencePiece) would change what is read.
        if llama.detokenize(spliced, special=True) != llama.detokenize(tokens, special=True):
            return tokens
        return spliced

    def piece(self, token: int) -> bytes:
        """The bytes `token` stands for, special tokens as their text (`<|im_end|>`)."""
        if token not in self._pieces:
            buffer = ctypes.create_string_buffer(64)
            vocab = self.llama._model.vocab
            n = llama_cpp.llama_token_to_piece(vocab, token, buffer, len(buffer), 0, True)
            if n < 0:
                buffer = ctypes.create_string_buffer(-n)
                n = llama_cpp.llama_token_to_piece(vocab, token, buffer, len(buffer), 0, True)
            self._pieces[token] = buffer.raw[: max(n, 0)]
        return self._pieces[token]


def common_length(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def token_text(llama: Llama, token: int) -> str:
    """A special token's text (`<|im_end|>`): a template writes it, and an empty one as a stop
    string would end every answer before it starts."""
    return llama.detokenize([token], special=True).decode(errors="ignore")
