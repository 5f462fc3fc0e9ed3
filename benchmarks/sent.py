"""What keeping each run's request costs: bytes per chat turn and time per turn, on SmolLM2.

    .venv/bin/python benchmarks/sent.py [--turns 12] [--max-tokens 200]

A chat of long answers (greedy, ~200 tokens each) on the bundled SmolLM2, whose 2048-token
window it overflows, so older turns are folded into a summary on the way. Each turn's request
(system, summary, the kept turns, the new message) is kept by lfwb (lfwb/store/sent.py: texts
by hash, messages as a prefix tree). Side by side, per turn:

- lfwb: the bytes the `sent_*` tables' records grew by (SQLite's own accounting, `dbstat`);
- whole: the same request kept whole, as a JSON row per run (what logging each request as sent
  would store): it grows with the history, so a conversation costs the square of its length.

and the time lfwb spent keeping and counting the request against the whole turn's time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
os.environ["LFWB_CORES_DIR"] = tempfile.mkdtemp(prefix="lfwb-sent-bench-cores-")

QUESTIONS = [
    "Tell me a story about a lighthouse keeper named Ada, in a few paragraphs.",
    "What did Ada find on the beach the next morning? Describe it in detail.",
    "Ada writes a letter to her sister about it. Write the letter.",
    "A storm comes. Tell how Ada keeps the light burning through the night.",
    "A ship is in trouble near the rocks. What does Ada do?",
    "Describe the captain of the ship and what he says to Ada.",
    "Ada's sister arrives on the island. Describe their meeting.",
    "The two sisters explore a cave under the lighthouse. What is inside?",
    "Write the conversation the sisters have that evening by the fire.",
    "Months later, the town holds a celebration for Ada. Describe it.",
    "Ada must decide whether to leave the island. What does she choose and why?",
    "Write the last page of the story.",
]


def sent_bytes(store) -> int:
    """The bytes of the records (tables and indexes) of the `sent_*` tables, by SQLite's `dbstat`."""
    rows = store.query("SELECT coalesce(sum(payload), 0) AS n FROM dbstat WHERE name LIKE 'sent%'")
    return rows[0]["n"]


def sent_pages(store) -> int:
    rows = store.query("SELECT coalesce(sum(pgsize), 0) AS n FROM dbstat WHERE name LIKE 'sent%'")
    return rows[0]["n"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=12)
    parser.add_argument("--max-tokens", type=int, default=200)
    args = parser.parse_args()

    import lfwb.runs as runs
    from lfwb.workbench import Workbench

    folder = tempfile.mkdtemp(prefix="lfwb-sent-bench-")
    wb = Workbench(os.path.join(folder, "bench.db"))
    wb.manager.load("smollm2")
    spent = [0.0]

    def timed(fn):
        def wrapper(*a, **k):
            start = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[0] += time.perf_counter() - start

        return wrapper

    runs.keep_request = timed(runs.keep_request)
    runs.count_request = timed(runs.count_request)
    session = wb.chat("story", model="smollm2")
    print(f"{'turn':>4} {'messages':>8} {'answer tok':>10} {'lfwb B':>8} {'whole B':>8} {'keep ms':>8} {'turn ms':>8}")
    total_lfwb = total_whole = 0
    turn_s = keep_s = 0.0
    before = sent_bytes(wb.store)
    for i in range(args.turns):
        spent[0] = 0.0
        start = time.perf_counter()
        reply = session.send(QUESTIONS[i % len(QUESTIONS)], max_tokens=args.max_tokens, temperature=0, seed=0)
        took = time.perf_counter() - start
        sent = wb.show_run(reply.run_id)["sent"]
        whole = len(
            json.dumps(
                {
                    "messages": [{k: m[k] for k in ("role", "content")} for m in sent["messages"]],
                    "settings": sent["settings"],
                }
            ).encode()
        )
        after = sent_bytes(wb.store)
        grew, before = after - before, after
        total_lfwb, total_whole = total_lfwb + grew, total_whole + whole
        turn_s, keep_s = turn_s + took, keep_s + spent[0]
        print(
            f"{i + 1:>4} {len(sent['messages']):>8} {reply.output_tokens:>10} {grew:>8} {whole:>8} "
            f"{spent[0] * 1000:>8.1f} {took * 1000:>8.0f}"
        )
    n = args.turns
    print()
    print(
        f"bytes per turn: lfwb {total_lfwb / n:,.0f}, whole requests {total_whole / n:,.0f} "
        f"(ratio lfwb/whole {total_lfwb / total_whole:.2f})"
    )
    print(
        f"keeping and counting the request: {keep_s * 1000 / n:.1f} ms a turn, "
        f"{100 * keep_s / turn_s:.2f}% of the turn's time"
    )
    print(f"the sent_* tables take {sent_pages(wb.store):,} bytes of pages in the file after {n} turns")
    wb.store.close()


if __name__ == "__main__":
    main()
