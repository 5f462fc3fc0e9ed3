"""What `lfwb serve` costs on the store's routes: the same calls over HTTP against the Python API.

    .venv/bin/python benchmarks/serve.py [--requests 400] [--clients 8]

A real uvicorn on 127.0.0.1 (the server `%lfw serve` starts, on a thread of this process) over a
Workbench on a fresh store file with 200 runs in it. Three calls a front end makes most:

- read one run:     GET /api/v1/runs/{id}            vs  store.get_run(id)
- list a page:      GET /api/v1/runs?limit=20        vs  store.page("runs", ..., limit=20)
- add a context:    POST /api/v1/contexts            vs  store.add_context(...)

Latency: one client, one request after another on a kept-alive connection (httpx.Client),
p50 and p99 of --requests calls. Throughput: --clients clients at once (httpx.AsyncClient),
requests per second. The Python API side makes the same calls on threads (--clients of them).
The ratio column is HTTP over Python for p50.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def timed(call, n: int) -> list[float]:
    times = []
    for i in range(n):
        start = time.perf_counter()
        call(i)
        times.append((time.perf_counter() - start) * 1000)
    return times


def python_throughput(call, n: int, clients: int) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(call, range(n)))
    return n / (time.perf_counter() - start)


def http_throughput(url: str, request, n: int, clients: int) -> float:
    async def run() -> float:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            queue = list(range(n))

            async def client() -> None:
                while queue:
                    i = queue.pop()
                    (await request(http, i)).raise_for_status()

            start = time.perf_counter()
            await asyncio.gather(*(client() for _ in range(clients)))
            return n / (time.perf_counter() - start)

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    os.environ.setdefault("LFWB_CORES_DIR", tempfile.mkdtemp())

    from lfwb.server import background
    from lfwb.workbench import Workbench

    wb = Workbench(str(Path(tempfile.mkdtemp()) / "bench.db"))
    store, pid = wb.store, wb.project_id
    ids = [store.add_run(pid, model="m", prompt=f"p{i}", output="o" * 200, status="done")["id"] for i in range(200)]
    served = background.start(wb, port=0)
    n, clients = args.requests, args.clients
    cases = {
        "read one run": (
            lambda i: store.get_run(ids[i % len(ids)]),
            lambda http, i: http.get(f"/api/v1/runs/{ids[i % len(ids)]}"),
        ),
        "list a page of 20": (
            lambda i: store.page("runs", {"project_id": pid}, limit=20),
            lambda http, i: http.get("/api/v1/runs", params={"limit": 20}),
        ),
        "add a context": (
            lambda i: store.add_context(pid, f"note {i} about buttons", name=f"n{i}"),
            lambda http, i: http.post("/api/v1/contexts", json={"text": f"note {i} about buttons", "name": f"n{i}"}),
        ),
    }
    rows = []
    try:
        with httpx.Client(base_url=served.url, timeout=60) as http:
            for name, (python_call, http_request) in cases.items():
                timed(python_call, 20), timed(lambda i: http_request(http, i), 20)  # warm up
                py = timed(python_call, n)
                over = timed(lambda i: http_request(http, i).raise_for_status(), n)
                py_rps = python_throughput(python_call, n, clients)
                http_rps = http_throughput(served.url, http_request, n, clients)
                rows.append(
                    (
                        name,
                        statistics.median(py),
                        percentile(py, 99),
                        py_rps,
                        statistics.median(over),
                        percentile(over, 99),
                        http_rps,
                    )
                )
    finally:
        background.stop()
        wb.close()
    print(
        f"lfwb serve vs the Python API — {n} requests each, {clients} clients for req/s, "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )
    header = f"{'call':<20}{'py p50 ms':>10}{'py p99 ms':>10}{'py req/s':>10}{'http p50':>10}{'http p99':>10}{'http req/s':>11}{'p50 ×':>8}"
    print(header)
    print("-" * len(header))
    for name, p50, p99, rps, h50, h99, hrps in rows:
        print(f"{name:<20}{p50:>10.3f}{p99:>10.3f}{rps:>10.0f}{h50:>10.3f}{h99:>10.3f}{hrps:>11.0f}{h50 / p50:>8.1f}")


if __name__ == "__main__":
    main()
