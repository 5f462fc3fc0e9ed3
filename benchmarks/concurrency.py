"""Two local generations at once: stalls and summed throughput, with and without the core lease.

    .venv/bin/python benchmarks/concurrency.py [--seconds 8]

Every set-up runs in worker processes of this script. A worker loads the bundled SmolLM2
through `RuntimeManager` and generates continuously for --seconds, alternating 4- and 32-token
chat generations (greedy, same prompts everywhere):

- solo: one worker, one model — the reference;
- two processes: two workers side by side (two kernels, or `lfwb serve` beside a notebook);
- two models, one process: one worker, the same GGUF registered twice, each generating on its
  own model thread (two pipeline steps at once);

the last two with the lease (lfwb/runtimes/cpu.py) and without it (`LFWB_SHARE_CORES=0`, the
behaviour before). The workers share a lease folder of their own, so lfwb runs elsewhere on
the machine do not take part.

Per set-up and length: median and worst ms per generation, worst / solo median (target ≤ 5),
and every worker's tokens together per second of the window against solo (target ≥ 0.8).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

LENGTHS = (4, 32)
PROMPTS = ["Name a colour.", "Say something about the sea.", "Give me a word for happy.", "What is a cat?"]


def work(models: int, seconds: float) -> None:
    """`--work N`: load N models, say ready, wait for "go", generate until the window ends."""
    from lfwb.runtimes import GenerationConfig, RuntimeManager, default_model_path

    manager = RuntimeManager(store=None)
    names = ["smollm2"] + [f"smollm2-{i}" for i in range(1, models)]
    for name in names[1:]:
        manager.register(name=name, runtime="llama_cpp", source=default_model_path(), persist=False)

    def one(name: str, i: int) -> dict:
        gen = GenerationConfig(
            messages=[{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}],
            max_tokens=LENGTHS[i % len(LENGTHS)],
            temperature=0,
            seed=0,
        )
        start = time.perf_counter()
        result = manager.generate(name, gen)
        return dict(
            length=gen.max_tokens,
            tokens=result.output_tokens,
            start=start,
            ms=(time.perf_counter() - start) * 1000,
            threads=manager.info(name).get("threads_last_run"),
        )

    for name in names:
        manager.load(name)
        one(name, 0), one(name, 1)  # warm up: the first generations build llama.cpp's buffers
    print("ready", flush=True)
    sys.stdin.readline()
    deadline = time.perf_counter() + seconds
    rows: list[dict] = []

    def loop(name: str) -> None:
        i = 0
        while time.perf_counter() < deadline:
            rows.append(one(name, i))
            i += 1

    threads = [threading.Thread(target=loop, args=(name,)) for name in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(rows), flush=True)
    manager.unload_all()


def run_setup(processes: int, models: int, seconds: float, env: dict) -> list[dict]:
    """Start the workers, wait until all have loaded, start them together, collect their rows."""
    workers = [
        subprocess.Popen(
            [sys.executable, __file__, "--work", str(models), "--seconds", str(seconds)],
            env=env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for _ in range(processes)
    ]
    for w in workers:
        if w.stdout.readline().strip() != "ready":
            raise SystemExit("a worker failed to start")
    for w in workers:
        w.stdin.write("go\n")
        w.stdin.flush()
    rows = [row for w in workers for row in json.loads(w.stdout.readline())]
    for w in workers:
        w.stdin.close()
        w.wait()
    return rows


def figures(rows: list[dict], solo: dict | None) -> dict:
    out: dict = {}
    start = min(r["start"] for r in rows)
    end = max(r["start"] + r["ms"] / 1000 for r in rows)
    out["tok_s"] = sum(r["tokens"] for r in rows) / (end - start)
    for length in LENGTHS:
        ms = [r["ms"] for r in rows if r["length"] == length] or [float("nan")]  # none in the window
        out[length] = dict(n=len(ms), median=statistics.median(ms), max=max(ms))
        if solo:
            out[length]["worst_ratio"] = max(ms) / solo[length]["median"]
    out["threads"] = sorted({r["threads"] for r in rows if r["threads"] is not None})
    if solo:
        out["tok_s_ratio"] = out["tok_s"] / solo["tok_s"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--work", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.work:
        return work(args.work, args.seconds)

    folder = tempfile.mkdtemp(prefix="lfwb-cores-")
    shared = dict(os.environ, LFWB_CORES_DIR=folder, LFWB_SHARE_CORES="1")
    old = dict(shared, LFWB_SHARE_CORES="0")
    load_before = os.getloadavg()
    solo = figures(run_setup(1, 1, args.seconds, shared), None)
    setups = [
        ("two processes, lease", run_setup(2, 1, args.seconds, shared)),
        ("two processes, no lease", run_setup(2, 1, args.seconds, old)),
        ("two models in one process, lease", run_setup(1, 2, args.seconds, shared)),
        ("two models in one process, no lease", run_setup(1, 2, args.seconds, old)),
    ]
    load_after = os.getloadavg()

    print(
        f"\nSmolLM2-135M Q4_1, {os.cpu_count()} CPUs, greedy chat generations of {' and '.join(map(str, LENGTHS))} "
        f"tokens back to back for {args.seconds:g} s per set-up\n"
    )
    head = "".join(f"{f'{n} tok median / max ms':>23}{'max/solo':>9}" for n in LENGTHS)
    print(f"{'':36}{head}{'tok/s':>8}{'÷ solo':>8}{'gens':>6}  threads")

    def line(label: str, f: dict) -> str:
        cells = ""
        for n in LENGTHS:
            cells += f"{f[n]['median']:14.0f} / {f[n]['max']:<5.0f}"
            cells += f"{f[n]['worst_ratio']:8.1f}×" if "worst_ratio" in f[n] else " " * 9
        ratio = f"{f['tok_s_ratio']:.2f}" if "tok_s_ratio" in f else ""
        gens = sum(f[n]["n"] for n in LENGTHS)
        return f"{label:37}{cells}{f['tok_s']:8.0f}{ratio:>8}{gens:6}  {f['threads']}"

    print(line("solo", solo))
    verdicts = []
    for label, rows in setups:
        f = figures(rows, solo)
        print(line(label, f))
        if "no lease" not in label:
            worst = max(f[n]["worst_ratio"] for n in LENGTHS)
            verdicts.append(
                f"{label}: worst {worst:.1f}× solo (target ≤ 5) "
                f"{'ok' if worst <= 5 else 'MISSED'}, throughput {f['tok_s_ratio']:.2f}× solo "
                f"(target ≥ 0.8) {'ok' if f['tok_s_ratio'] >= 0.8 else 'MISSED'}"
            )
    print()
    print("\n".join(verdicts))
    print(
        f"load average before / after: {' '.join(f'{x:.2f}' for x in load_before)} / "
        f"{' '.join(f'{x:.2f}' for x in load_after)} on {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
