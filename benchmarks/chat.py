"""Time to first token per chat turn on the bundled SmolLM2: short answers against a naive re-send,
and a long-answer conversation against lfwb's path before issue 20.

    .venv/bin/python benchmarks/chat.py [--turns 10] [--max-tokens 48] [--only short|long]
    .venv/bin/python benchmarks/chat.py --only long [--long-turns 12] [--answer-tokens 200] [--pause 5]

Short answers

lfwb: `wb.chat(...).send(...)` turn after turn on the loaded model. Each prompt starts with the
whole of the previous one (the rolling summary changes only when a block is folded), so
llama.cpp keeps the key/value cache of that prefix and evaluates only the new turn.

naive: the very same prompts (system, the history as lfwb sent it, the new message), each sent
whole with llama.cpp's cache reset first — what a client that re-sends the conversation to a
fresh context pays. Its time to first token grows with the history.

Greedy (temperature 0), one user message per turn. Prints, per turn and for both, the time to
first token and the prompt tokens llama.cpp evaluated (its own counter, `llama_perf_context`:
what the cache did not hold), then the ratio turn N / turn 1 (target for lfwb: ≤ 1.5). The core
lease is private to this script, so other lfwb processes on the machine do not make it wait.

Long answers (the hard case)
12 turns asking for answers of ~200 tokens (sampled at 0.7, as `%%lfw chat` does), so the
history overflows SmolLM2's 2048-token window and folds into a summary. Run twice: with a
5 s pause between turns (a person reading) and with none. TTFT here is what the person sees:
from sending the message to the first piece of text (a summary written meanwhile included).
"before" is lfwb's path before issue 20, in the same process: the prompt re-tokenized whole
(llama-cpp-python matches the cache by tokens, and a sampled answer's tokens are not those its
text tokenizes to) and the summary written when the next message needs it. Target for lfwb
with pauses: no turn's TTFT more than 2x the first turn's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager, nullcontext

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
os.environ["LFWB_CORES_DIR"] = tempfile.mkdtemp(prefix="lfwb-chat-bench-cores-")

QUESTIONS = [
    "My name is Ada and I am planning a trip to Lisbon in May. What should I pack?",
    "I will stay for five days. Which neighbourhoods are good for walking?",
    "What is a typical breakfast there, and where can I find one near the river?",
    "Is it easy to get from the airport to the city centre by metro?",
    "Which day trip would you suggest outside the city, and how long does it take?",
    "What are two museums I should not miss if I like tiles and old maps?",
    "How much should I budget per day for food if I eat in small local places?",
    "Are there any festivals in Lisbon in May that I could see?",
    "What phrases in Portuguese would be useful for ordering coffee?",
    "Remind me: what is my name, and which city am I visiting?",
    "What time do restaurants usually open for dinner there?",
    "Give me a one-line summary of the plan we made.",
]


LONG_QUESTIONS = [
    "Tell me a long story about a lighthouse keeper named Ada who finds a message in a bottle.",
    "Continue the story: describe the island and the storm that night in detail.",
    "What did the message in the bottle say, and who wrote it? Tell it at length.",
    "Continue: Ada decides to row to the mainland. Describe the journey.",
    "Describe the harbour town she reaches and the people she meets there.",
    "Continue the story: someone in the town recognises the handwriting.",
    "Tell me about the writer of the message and their life, in detail.",
    "Continue: Ada and the writer meet. Describe the conversation.",
    "What secret do they discover about the lighthouse? Tell it at length.",
    "Continue the story: a second storm comes. What happens to the lighthouse?",
    "Describe how the town helps Ada rebuild, with many details.",
    "Finish the story: how does it end for Ada, years later?",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--only", choices=["short", "long"])
    parser.add_argument("--long-turns", type=int, default=12)
    parser.add_argument("--answer-tokens", type=int, default=200)
    parser.add_argument("--pause", type=float, default=5.0)
    parser.add_argument("--threads", type=int, help="llama.cpp threads for the long conversation (default: lfwb's)")
    args = parser.parse_args()
    if args.only != "long":
        short(args)
    if args.only != "short":
        for pause in (args.pause, 0.0):
            long_answers(args, pause)


def short(args) -> None:
    from lfwb.runtimes import GenerationConfig
    from lfwb.workbench import Workbench

    folder = tempfile.mkdtemp(prefix="lfwb-chat-bench-")
    wb = Workbench(os.path.join(folder, "bench.db"))
    wb.manager.load("smollm2")
    llama = wb.manager.runtime("smollm2")._llama
    session = wb.chat("bench", model="smollm2")
    settings = dict(max_tokens=args.max_tokens, temperature=0, seed=0)

    lfwb_ttft, lfwb_eval, naive_eval, prompts, context = [], [], [], [], []
    for i in range(args.turns):
        with evaluated(llama, lfwb_eval):
            reply = session.send(QUESTIONS[i % len(QUESTIONS)], **settings)
        lfwb_ttft.append(reply.ttft_ms)
        context.append(reply.input_tokens)
        prompts.append(session_prompt(wb, session, i))

    naive_ttft = []
    for messages in prompts:
        llama.reset()  # a fresh context: nothing of the previous prompt is kept
        start = time.perf_counter()
        with evaluated(llama, naive_eval):
            for chunk in wb.manager.stream("smollm2", GenerationConfig(messages=messages, **settings)):
                if chunk.text:
                    naive_ttft.append((time.perf_counter() - start) * 1000)
                    break

    print(
        f"SmolLM2 (llama.cpp, {wb.manager.runtime('smollm2').n_threads} threads), "
        f"{args.turns} turns, answers of at most {args.max_tokens} tokens, greedy\n"
    )
    print(
        f"{'turn':>4}  {'prompt tokens':>13}  {'lfwb TTFT ms':>12}  {'naive TTFT ms':>13}  "
        f"{'lfwb evaluated':>14}  {'naive evaluated':>15}"
    )
    rows = zip(lfwb_ttft, naive_ttft, context, lfwb_eval, naive_eval)
    for i, (a, b, n, ea, eb) in enumerate(rows, 1):
        print(f"{i:>4}  {n or 0:>13}  {a:>12.1f}  {b:>13.1f}  {ea:>14}  {eb:>15}")
    print(
        f"\nturn {args.turns} / turn 1:  lfwb {lfwb_ttft[-1] / lfwb_ttft[0]:.2f} (target ≤ 1.5)"
        f"   naive {naive_ttft[-1] / naive_ttft[0]:.2f}"
    )
    print(
        f"median TTFT over turns 2..{args.turns}:  lfwb {statistics.median(lfwb_ttft[1:]):.1f} ms"
        f"   naive {statistics.median(naive_ttft[1:]):.1f} ms"
    )
    wb.manager.unload_all()
    wb.close()


def long_answers(args, pause: float) -> None:
    """The long-answer conversation, before issue 20 and now, `pause` s between turns."""
    from lfwb.workbench import Workbench

    from lfwb.runtimes import GenerationConfig, default_model_path

    folder = tempfile.mkdtemp(prefix="lfwb-chat-bench-long-")
    wb = Workbench(os.path.join(folder, "bench.db"))
    wb.manager.register(name="smollm2-bench", source=default_model_path(), threads=args.threads, persist=False)
    runs = {}
    for path in ("before", "lfwb"):
        wb.manager.unload_all()  # each path starts from a fresh context
        # One token first: the weights are read from disk (mmap) on the first evaluation, not the first turn.
        wb.manager.generate("smollm2-bench", GenerationConfig(prompt="Hi", max_tokens=1))
        with old_path() if path == "before" else nullcontext():
            runs[path] = conversation(wb, f"long-{path}-{pause:g}", args, pause)
    runtime = wb.manager.runtime("smollm2-bench")
    window = runtime.context_window
    print(
        f"\nlong answers: {args.long_turns} turns of at most {args.answer_tokens} tokens (temperature 0.7), "
        f"{window}-token window, {runtime.n_threads} threads, {pause:g} s between turns\n"
    )
    print(
        f"{'turn':>4}  {'before TTFT':>11}  {'evaluated':>9}  {'summary':>7}   "
        f"{'lfwb TTFT':>9}  {'evaluated':>9}  {'waited':>6}  {'folded after':>12}"
    )
    before, now = runs["before"], runs["lfwb"]
    for i, (b, a) in enumerate(zip(before, now), 1):
        print(
            f"{i:>4}  {b['ttft']:>11.0f}  {b['evaluated']:>9}  {'yes' if b['summary'] else '':>7}   "
            f"{a['ttft']:>9.0f}  {a['evaluated']:>9}  {a['waited']:>6.0f}  {'yes' if a['folded'] else '':>12}"
        )
    for name, turns in runs.items():
        worst = max(t["ttft"] for t in turns)
        print(
            f"{name:>6}: worst TTFT / first = {worst / turns[0]['ttft']:.2f}, median evaluated tokens over turns "
            f"2..{len(turns)} = {statistics.median(t['evaluated'] for t in turns[1:]):.0f}, answers "
            f"{statistics.mean(t['answer'] for t in turns):.0f} tokens on average"
        )
    if pause:
        print("target (lfwb, with pauses): worst TTFT / first ≤ 2")
    wb.manager.unload_all()
    wb.close()


def conversation(wb, name: str, args, pause: float) -> list[dict]:
    """Each turn's TTFT as the person sees it, the prompt tokens llama.cpp evaluated, whether a
    summary was written during the turn (before) or a fold started after it (lfwb)."""
    from lfwb.handles import Text

    session = wb.chat(name, model="smollm2-bench")
    turns = []
    for i in range(args.long_turns):
        summaries = len(summary_runs(wb))
        handle = session.start(
            LONG_QUESTIONS[i % len(LONG_QUESTIONS)], max_tokens=args.answer_tokens, temperature=0.7, seed=i
        )
        first: list[float] = []
        handle.listen(lambda e: first.append(time.perf_counter()) if isinstance(e, Text) and not first else None)
        start = time.perf_counter()
        folding = session.folding
        reply = handle.result()
        turns.append(
            {
                "ttft": (first[0] - start) * 1000 if first else float("nan"),
                "evaluated": reply.evaluated_tokens,
                "answer": reply.output_tokens,
                "waited": reply.fold_wait_ms or 0.0,
                "summary": len(summary_runs(wb)) > summaries and session.folding is folding,
                "folded": session.folding is not folding,
            }
        )
        time.sleep(pause)
    if session.folding is not None:
        session.folding.wait()
    return turns


def summary_runs(wb) -> list[dict]:
    return [r for r in wb.store.list_runs(limit=None) if r["kind"] == "chat-summary"]


@contextmanager
def old_path():
    """lfwb before issue 20: the whole prompt tokenized afresh, no fold between turns, the summary
    written from a transcript (nothing cached) in up to 256 tokens."""
    from lfwb.chat import memory, session
    from lfwb.runtimes import llama_prompt

    reusing, ahead, fold, budget = llama_prompt.ChatPrompt.reusing_cache, session.fold_ahead, memory.Memory.fold, 256

    def tokenized(self, text: str, add_bos: bool) -> list[int]:
        return self.llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)

    def from_transcript(self, summary, rows, write, context=None):
        return fold(self, summary, rows, write)

    llama_prompt.ChatPrompt.reusing_cache, session.fold_ahead = tokenized, lambda *a: None  # type: ignore[method-assign]
    memory.Memory.fold = from_transcript  # type: ignore[method-assign]
    budget, memory.SUMMARY_TOKENS = memory.SUMMARY_TOKENS, budget
    try:
        yield
    finally:
        llama_prompt.ChatPrompt.reusing_cache, session.fold_ahead = reusing, ahead  # type: ignore[method-assign]
        memory.Memory.fold, memory.SUMMARY_TOKENS = fold, budget  # type: ignore[method-assign]


@contextmanager
def evaluated(llama, into: list[int]):
    """Append the prompt tokens llama.cpp evaluated during the block (batches of more than one token)."""
    import llama_cpp

    llama_cpp.llama_perf_context_reset(llama.ctx)
    yield
    into.append(llama_cpp.llama_perf_context(llama.ctx).n_p_eval)


def session_prompt(wb, session, turn: int) -> list[dict]:
    """The messages lfwb sent at `turn`: the system prompt, the history before it, the question."""
    from lfwb.chat.memory import system_text

    row = session.row()
    history = wb.store.list_messages(session.id)[: 2 * turn + 1]
    messages = [{"role": "system", "content": system_text(row["system"], None, 0)}]
    return messages + [{"role": m["role"], "content": m["content"]} for m in history]


if __name__ == "__main__":
    main()
