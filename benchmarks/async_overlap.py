"""Do awaited remote generations overlap? Three Gemini calls, one after another and gathered.

    .venv/bin/python benchmarks/async_overlap.py [--calls 3] [--wait 2.0]

The stand-in Gemini server of the tests (tests/gemini_server.py: the Gemini REST protocol on
127.0.0.1, spoken to by the real google-genai SDK) holds each request `--wait` seconds before
answering, as a slow remote model does. Each call is `await wb.agenerate(...)` on a model of its
own, recorded as a run. sequential: awaited one after the other; gather: `asyncio.gather` over
all of them. Prints both wall times and their ratio (target: gather ≤ 1.25 × one call, i.e.
three 2 s calls in ≤ 2.5 s), and how many requests the server saw in flight at once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(__file__), "..")
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--wait", type=float, default=2.0)
    args = parser.parse_args()

    from gemini_server import TEST_KEY, TEST_KEY_ENV, FakeGemini, Reply, register_fake
    from lfwb.workbench import Workbench

    server = FakeGemini(expected_key=TEST_KEY).start()
    os.environ[TEST_KEY_ENV] = TEST_KEY
    server.default = Reply(wait_s=args.wait)
    wb = Workbench(os.path.join(tempfile.mkdtemp(prefix="lfwb-async-bench-"), "bench.db"))
    models = [f"g{i}" for i in range(args.calls)]
    for name in models:
        register_fake(wb, server, name=name)

    async def sequential() -> list:
        return [await wb.agenerate("Name a fox.", model=m, max_tokens=50) for m in models]

    async def gathered() -> list:
        return await asyncio.gather(*(wb.agenerate("Name a fox.", model=m, max_tokens=50) for m in models))

    rows = []
    try:
        asyncio.run(wb.agenerate("warm up", model=models[0], max_tokens=5))  # the SDK's imports, once
        for label, run in (("sequential", sequential), ("gather", gathered)):
            server.reset()
            server.default = Reply(wait_s=args.wait)
            start = time.perf_counter()
            results = asyncio.run(run())
            wall = time.perf_counter() - start
            assert all(r.status == "done" for r in results), [r.status for r in results]
            rows.append((label, wall, server.most_at_once))
    finally:
        wb.close()
        server.stop()

    print(f"{args.calls} × {args.wait:.1f} s remote calls (stand-in Gemini on 127.0.0.1)")
    print(f"{'':12}{'wall s':>8}{'at once':>9}")
    for label, wall, at_once in rows:
        print(f"{label:12}{wall:8.2f}{at_once:9d}")
    (_, seq, _), (_, gat, _) = rows
    print(f"gather / sequential: {gat / seq:.2f}   gather / one call: {gat / args.wait:.2f} (target ≤ 1.25)")


if __name__ == "__main__":
    main()
