"""How many CPU threads a local model should compute with, now.

llama.cpp's threads meet at a barrier after every operation of every token. On an idle
machine, one thread per physical core is fastest. When other programs keep cores busy, a thread
that the OS parks for a few milliseconds holds up all the others at each barrier, and a
2-thread SmolLM2 on a busy 2-core machine fell from ~110 to under 10 tokens/s while one thread
kept ~75. So a generation uses the physical cores that other programs leave free, measured
since the previous generation (CPU time of the whole machine minus this process's own).

    >>> threads_for(cores=2, others_busy=0.1), threads_for(cores=2, others_busy=1.3)
    (2, 1)
"""

from __future__ import annotations

import os
import threading
import time

import psutil

_MIN_WINDOW_S = 0.25  # shorter gaps between generations say too little: keep the last choice
_BUSY = ("user", "nice", "system", "irq", "softirq", "steal")  # steal: another VM had the core


def physical_cores() -> int:
    """Every physical core this process may run on (hyperthreads slow llama.cpp down)."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    physical = psutil.cpu_count(logical=False) or usable
    return max(1, min(usable, physical))


def threads_for(cores: int, others_busy: float) -> int:
    """Threads to use out of `cores` when other programs keep `others_busy` cores busy."""
    return max(1, min(cores, round(cores - others_busy)))


class FreeCores:
    """Measures, between two calls, how many cores other programs used (one per process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: tuple[float, float, float] | None = None
        self._others = 0.0

    def others_busy(self) -> float:
        """Cores other programs kept busy since the previous call (the load average, at first)."""
        times = psutil.cpu_times()
        busy = sum(getattr(times, name, 0.0) for name in _BUSY)  # guest time is inside user
        sample = (time.monotonic(), busy, sum(psutil.Process().cpu_times()[:2]))
        with self._lock:
            if self._last is None:
                self._others = max(0.0, os.getloadavg()[0]) if hasattr(os, "getloadavg") else 0.0
                self._last = sample
            elif sample[0] - self._last[0] >= _MIN_WINDOW_S:
                wall = sample[0] - self._last[0]
                busy, own = sample[1] - self._last[1], sample[2] - self._last[2]
                self._others = max(0.0, (busy - own) / wall)
                self._last = sample
            return self._others

    def threads(self, cores: int) -> int:
        return threads_for(cores, self.others_busy())


free_cores = FreeCores()
