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
kernels, a script beside a notebook — through a lease (`core_slots.take`): one lock file per
physical core in a per-user folder, each taken with `flock` on a file descriptor of its own.
Locks on distinct open files conflict even inside one process, so the same lease serves threads
and processes, and a process that dies gives its cores back with its files. A generation takes
the free cores and computes with that many threads. When none is free it says so (it locks a
`wanted` file) and waits a moment: a holder of several cores gives one back at its next token,
keeping its last. It then runs with one thread, with a core or without one until a core frees
up. Without the lease, two 2-thread generations on 2 cores stalled for seconds at llama.cpp's
barriers.

    with core_slots.take(want=2) as lease:
        set_threads(lease.threads)         # 2 alone, 1 while another generation holds a core
        for token in tokens:
            if lease.between_tokens():     # another generation waits: one core fewer
                set_threads(lease.threads)

`$LFWB_SHARE_CORES=0` turns the lease off (every generation takes what it wants, as before);
without `fcntl` (Windows) there is no lease either.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

if sys.platform == "win32":  # no flock; generations do not share (the behaviour before leases)
    fcntl = None
else:
    import fcntl

_MIN_WINDOW_S = 0.25  # shorter gaps between generations say too little: keep the last choice
_BUSY = ("user", "nice", "system", "irq", "softirq", "steal")  # steal: another VM had the core
SHARE_ENV = "LFWB_SHARE_CORES"  # "0": no lease
FOLDER_ENV = "LFWB_CORES_DIR"  # where the lock files live (tests use a folder of their own)
# A generation that finds every core held waits this long for one, then runs with one thread
# anyway (and keeps asking): a holder of several cores gives one back at its next token, so the
# wait only runs out when every holder is down to one core or in the middle of a long prompt.
WAIT_S = 0.25
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
    """The cores one generation holds, until `release` (or the end of a `with` block).

    Without a folder there is no lease: every wanted core is taken as ours (sharing is off).
    """

    def __init__(self, want: int, folder: Path | None = None, count: int = 0):
        self.want = want
        self._folder, self._count = folder, count
        self._held: dict[int, int] | None = None  # core slot → its locked file
        self._wanted_fd: int | None = None  # the file a generation locks to say it waits for a core
        self._asking = False  # this lease holds that lock
        self._complete = True  # got every core asked for
        if folder is not None:
            self._wanted_fd = os.open(folder / "wanted", os.O_RDWR | os.O_CREAT, 0o600)
            self._held = {}

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
        if self._wanted_fd is None or self._asking:
            return False
        try:  # a waiter holds the wanted file exclusively: a shared lock fails while it waits
            fcntl.flock(self._wanted_fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(self._wanted_fd, fcntl.LOCK_UN)
        return False

    def between_tokens(self) -> bool:
        """Share the cores as the generation goes: a holder of several gives one back when
        another generation waits (it keeps its last); one that runs without a core takes one
        as soon as one is free, and keeps asking until then. True when `threads` changed."""
        if self._held is None:
            return False
        if not self._held:
            self._grab(1)
            self._ask(not self._held)
            return False  # one thread with a core or without
        if len(self._held) > 1 and self.someone_waits():
            self.keep(len(self._held) - 1)
            return True
        return False

    def _acquire(self, goal: int, wait_s: float) -> None:
        held = self._held
        if held is None:
            return  # no lease: every wanted core is ours
        if self.someone_waits():
            goal = 1  # whoever already waits gets first pick of what frees up: take one core
        self._grab(goal)
        deadline = time.monotonic() + wait_s
        while not held and time.monotonic() < deadline:
            self._ask(True)  # holders of several cores give one back at their next token
            time.sleep(_POLL_S)
            self._grab(1)
        self._complete = len(held) >= min(self.want, self._count)
        # Still without a core: compute with one thread anyway and keep asking (between_tokens),
        # or a holder in a long prompt would never hear that someone waits.
        self._ask(not held)

    def _grab(self, goal: int) -> None:
        held, folder = self._held, self._folder
        if held is None or folder is None:
            return  # no lease: nothing to lock
        for slot in range(self._count):
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

    def _ask(self, ask: bool) -> None:
        wanted = self._wanted_fd
        if wanted is None:
            return  # no lease (or released): there is no one to tell
        if ask and not self._asking:
            try:
                fcntl.flock(wanted, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._asking = True
            except BlockingIOError:
                pass  # another generation already asks (or a holder is looking): retry later
        elif not ask and self._asking:
            fcntl.flock(wanted, fcntl.LOCK_UN)
            self._asking = False

    def release(self) -> None:
        for fd in (self._held or {}).values():
            os.close(fd)
        if self._held:
            self._held.clear()
        if self._wanted_fd is not None:
            os.close(self._wanted_fd)  # drops the wanted lock too
            self._wanted_fd, self._asking = None, False

    def __del__(self) -> None:  # a lease dropped without release must not hold cores for good
        try:
            self.release()
        except OSError:
            pass

    def __enter__(self) -> CoreLease:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


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
        count = self.count or physical_cores()
        try:
            folder = self.folder or cores_folder()
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            lease = CoreLease(want, folder, count)
        except OSError:  # a read-only or foreign folder: run as if alone rather than fail
            return CoreLease(want)
        try:
            lease._acquire(min(want, count), wait_s)
        except BaseException:  # an interrupt while waiting: hold nothing
            lease.release()
            raise
        return lease


core_slots = CoreSlots()
