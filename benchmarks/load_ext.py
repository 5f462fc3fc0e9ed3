"""How long `%load_ext lfwb` takes, next to a bare IPython shell, in fresh processes.

    .venv/bin/python benchmarks/load_ext.py

Target (issue 2): %load_ext lfwb ≤ 0.15 s. For reference, `%load_ext jupyter_ai_magics` took
1.85 s on this machine (it is timed here too when installed).
"""

from __future__ import annotations

import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile

ROUNDS = 7
PROBE = """
import json, os, sys, time
os.environ["LFWB_DB"] = os.path.join(sys.argv[2], "bench.db")
t0 = time.perf_counter()
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
t1 = time.perf_counter()
ext = sys.argv[1]
if ext != "-":
    ip.run_line_magic("load_ext", ext)
t2 = time.perf_counter()
if ext == "lfwb":
    ip.run_line_magic("lfw", "runs")  # first use: opens the store, registers smollm2
t3 = time.perf_counter()
print(json.dumps({"shell": t1 - t0, "load_ext": t2 - t1, "first_use": t3 - t2}))
"""


def measure(ext: str, tmp: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, ext, tmp], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    exts = ["-", "lfwb"] + (["jupyter_ai_magics"] if importlib.util.find_spec("jupyter_ai_magics") else [])
    samples: dict[str, list[dict]] = {e: [] for e in exts}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(ROUNDS):  # alternate, so machine noise hits all alike
            for ext in exts:
                samples[ext].append(measure(ext, tmp))

    def med(ext: str, key: str) -> float:
        return statistics.median(s[key] for s in samples[ext])

    bare = med("-", "shell")
    print(f"{'measure (median of ' + str(ROUNDS) + ')':40} {'seconds':>8} {'vs bare shell':>14}  target")
    print(f"{'bare IPython shell start':40} {bare:8.3f} {1.0:14.2f}")
    load = med("lfwb", "load_ext")
    print(f"{'%load_ext lfwb':40} {load:8.3f} {load / bare:14.2f}  ≤ 0.150 s")
    first = med("lfwb", "first_use")
    print(f"{'first %lfw runs (opens the store)':40} {first:8.3f} {first / bare:14.2f}")
    if "jupyter_ai_magics" in samples:
        ai = med("jupyter_ai_magics", "load_ext")
        print(f"{'%load_ext jupyter_ai_magics':40} {ai:8.3f} {ai / bare:14.2f}")
    print("target met" if load <= 0.15 else "TARGET MISSED")


if __name__ == "__main__":
    main()
