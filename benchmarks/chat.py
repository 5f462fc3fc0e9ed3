"""Time to first token per chat turn on the bundled SmolLM2: lfwb's session against a naive re-send.

    .venv/bin/python benchmarks/chat.py [--turns 10] [--max-tokens 48]

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
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--max-tokens", type=int, default=48)
    args = parser.parse_args()

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
