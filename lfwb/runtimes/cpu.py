"""How many CPU threads a local model should compute with, now.

llama.cpp's threads meet at a barrier after every operation of every token. On an idle
machine, one thread per physical core is fastest. When other programs keep cores busy, a thread
that the OS parks for a few milliseconds holds up all the others at each barrier, and a
2-thread SmolLM2 on a busy 2-core machine fell from ~110 to under 10 tokens/s while one thread
kept ~75. So a generation uses the physical cores that other programs leave free, measured
since the previous generation (CPU time of the whole machine minus this process's own).

    >>> threads_for(cores=2, others_busy=0.1), threads_for(cores=2, others_busy=1.3)
    (2, 1)

Local generations also share the cores with each other — two models of one kernel, two
kernels, `lfwb serve` beside a notebook — through a lease (`core_slots.take`): one lock file per
physical core in a per-user folder, each taken with `flock` on a file descriptor of its own.
Locks on distinct open files conflict even inside one process, so the same lease serves threads
and processes, and a process that dies gives its cores back with its files. A generation takes
the free cores (waiting a moment for one if none is), computes with that many threads, gives one
back between tokens when another generation waits, and gives back the rest when it ends.
Without it, two 2-thread generations on 2 cores stalled for seconds at llama.cpp's barriers.

    with core_slots.take(want=2) as lease:
        run_with(lease.threads)            # 2 alone, 1 while another generation holds a core
        if lease.yield_to_waiter(): ...    # between tokens: now one thread fewer

`$LFWB_SHARE_CORES=0` turns the lease off (every generation takes what it wants, as before);
without `fcntl` (Windows) there is no lease either.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

import psutil

try:
    import fcntl
except ImportError:  # Windows: no flock; generations do not share (the behaviour before leases)
    fcntl = None

_MIN_WINDOW_S = 0.25  # shorter gaps between generations say too little: keep the last choice
_BUSY = ("user", "nice", "system", "irq", "softirq", "steal")  # steal: another VM had the core
SHARE_ENV = "LFWB_SHARE_CORES"  # "0": no lease
FOLDER_ENV = "LFWB_CORES_DIR"  # where the lock files live (tests use a folder of their own)
# A generation that finds every core held waits this long for one, then runs with one thread
# anyway: a holder gives a core back within a token, so the wait only runs out when every holder
# is down to one core (three generations on two cores) or stuck in a long prompt.
WAIT_S = 0.5
_POLL_S = 0.002


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


# -- sharing the cores between generations ---------------------------------------------------


class CoreLease:
    """The cores one generation holds, until `release` (or the end of a `with` block)."""

    def __init__(self, want: int, held: dict[int, int] | None = None, wanted_fd: int | None = None,
                 complete: bool = True):
        self.want = want
        self._held = held  # core slot → its locked file; None: no lease, every wanted core is ours
        self._wanted_fd = wanted_fd  # the file waiters lock to say they wait
        self._complete = complete  # got every core asked for

    @property
    def cores(self) -> int:
        """Cores held (the wanted count when there is no lease)."""
        return self.want if self._held is None else len(self._held)

    @property
    def slots(self) -> tuple[int, ...]:
        """Which of the machine's core slots are held (none when there is no lease)."""
        return tuple(sorted(self._held or ()))

    @property
    def threads(self) -> int:
        """Threads to compute with: all that were wanted when every core asked for was free
        (`--threads 4` on 2 cores stays 4), else one per core held, and at least one."""
        return self.want if self._held is None or self._complete else max(1, len(self._held))

    def keep(self, n: int) -> None:
        """Give back all but `n` cores (at least one is kept)."""
        if self._held is None:
            return
        for slot in sorted(self._held, reverse=True)[: max(0, len(self._held) - max(1, n))]:
            os.close(self._held.pop(slot))  # closing the only descriptor drops its lock
            self._complete = False

    def someone_waits(self) -> bool:
        """Is another generation, here or in another process, waiting for a core?"""
        return self._wanted_fd is not None and _waiter_present(self._wanted_fd)

    def yield_to_waiter(self) -> bool:
        """Between tokens: give one core back if another generation waits. True if it did
        (compute with `threads` from now on). A holder keeps its last core."""
        if self._held is None or len(self._held) <= 1 or not self.someone_waits():
            return False
        self.keep(len(self._held) - 1)
        return True

    def release(self) -> None:
        if self._held is not None:
            for fd in self._held.values():
                os.close(fd)
            self._held.clear()
        if self._wanted_fd is not None:
            os.close(self._wanted_fd)
            self._wanted_fd = None

    def __del__(self) -> None:  # a lease dropped without release must not hold cores for good
        try:
            self.release()
        except OSError:
            pass

    def __enter__(self) -> CoreLease:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _waiter_present(wanted_fd: int) -> bool:
    try:  # a waiter holds the wanted file exclusively: a shared lock fails while it waits
        fcntl.flock(wanted_fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(wanted_fd, fcntl.LOCK_UN)
    return False


def cores_folder() -> Path:
    """`$LFWB_CORES_DIR`, else `lfwb-<uid>/cores` under `$XDG_RUNTIME_DIR` or the temp folder."""
    if os.environ.get(FOLDER_ENV):
        return Path(os.environ[FOLDER_ENV])
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / f"lfwb-{os.getuid()}" / "cores"


class CoreSlots:
    """The machine's physical cores as lock files that generations lease (see the module doc)."""

    def __init__(self, count: int | None = None, folder: Path | None = None):
        self.count = count  # None: this process's physical cores
        self.folder = folder  # None: `cores_folder()`, read at each lease

    def take(self, want: int, wait_s: float = WAIT_S) -> CoreLease:
        """Lease up to `want` free cores; wait up to `wait_s` for one when none is free, then
        compute with one thread anyway (a generation never fails for want of a core)."""
        want = max(1, int(want))
        if fcntl is None or os.environ.get(SHARE_ENV, "1").strip() == "0":
            return CoreLease(want)
        folder = self.folder or cores_folder()
        count = self.count or physical_cores()
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            wanted_fd = os.open(folder / "wanted", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:  # a read-only or foreign folder: run as if alone rather than fail
            return CoreLease(want)
        held: dict[int, int] = {}
        goal = min(want, count)
        waiting = False
        deadline = time.monotonic() + wait_s
        try:
            # Someone already waiting gets first pick of what frees up: a newcomer takes one core.
            if _waiter_present(wanted_fd):
                goal = 1
            while True:
                self._grab(folder, count, goal, held)
                if held or time.monotonic() >= deadline:
                    break
                if not waiting:
                    goal = 1  # a waiter takes one core; holders keep the rest
                    try:
                        fcntl.flock(wanted_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        waiting = True
                    except BlockingIOError:
                        pass  # another waiter has already said so (or a holder is looking)
                time.sleep(_POLL_S)
            if waiting:
                fcntl.flock(wanted_fd, fcntl.LOCK_UN)
        except BaseException:  # an interrupt while waiting: hold nothing
            CoreLease(want, held, wanted_fd).release()
            raise
        return CoreLease(want, held, wanted_fd, complete=len(held) >= min(want, count))

    @staticmethod
    def _grab(folder: Path, count: int, goal: int, held: dict[int, int]) -> None:
        for slot in range(count):
            if len(held) >= goal:
                return
            if slot in held:
                continue
            fd = os.open(folder / f"core-{slot}", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held[slot] = fd
            except BlockingIOError:
                os.close(fd)


core_slots = CoreSlots()
