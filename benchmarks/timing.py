"""Fair timing on a small shared machine, for the scripts in this folder.

Three things make a comparison of two libraries lie on a 2-core machine, and each has its
remedy here:

- **A spinning worker.** After NumPy's BLAS work, OpenBLAS's worker threads (and PyTorch's
  OpenMP ones) keep spinning on the other core for a while, and whatever runs next is slowed:
  torch.nn's LSTM step timed straight after tg's took 34.6 ms, after a 0.3 s pause 22.9 ms.
  ``interleaved`` pauses ``pause`` seconds (``PAUSE_S``) before every timed batch.
- **A batch sized from another engine.** An engine timed in batches sized from a slower one
  runs longer batches and is sampled differently. ``calibrate`` sizes each engine's batch from
  its own time per iteration.
- **Other processes.** A process holding one of two cores inflates 2-thread times many-fold.
  ``LoadMeter`` measures, from ``/proc/stat``, the CPU time of everything but this process (and
  its waited-for children) over an interval, in cores, so a table can say what it ran beside;
  ``interleaved`` measures it over every timed batch and times a batch again when it was high.

Engines are interleaved (one batch of each per repeat, the order rotated every repeat) and
the median of the repeats is reported.

    >>> meter = LoadMeter()
    >>> t = interleaved({"sum": lambda: sum(range(100))}, repeat=3, batch_s=0.01, pause=0)
    >>> t["sum"].median > 0 and meter.read()["wall_s"] > 0
    True
"""
import os
import platform
import statistics
import time
from dataclasses import dataclass, field

PAUSE_S = 0.3          # the settle pause before each timed batch
LOAD_WARN_CORES = 0.25  # above this much load from other processes, a table is suspect


# ---------------------------------------------------------------- threads

def set_threads(threads, torch=None):
    """Limit every thread pool loaded so far (NumPy's BLAS, OpenMP) and PyTorch's intra-op pool
    to ``threads``. Call after importing both libraries: threadpoolctl only sees what is loaded.
    Returns the limiter (keep it alive; ``restore_original_limits()`` undoes it)."""
    from threadpoolctl import threadpool_limits
    limiter = threadpool_limits(limits=threads)
    if torch is not None:
        torch.set_num_threads(threads)
    return limiter


def thread_report(torch=None):
    """One line naming each thread pool and its size, e.g. ``openblas 0.3.31 pthreads: 2``."""
    from threadpoolctl import threadpool_info
    pools = [f"{p['internal_api']} {p.get('version') or ''} {p.get('threading_layer') or ''}"
             .replace("  ", " ").strip() + f": {p['num_threads']}" for p in threadpool_info()]
    if torch is not None:
        pools.append(f"torch intra-op: {torch.get_num_threads()}")
    return "; ".join(pools)


# ---------------------------------------------------------------- load of other processes

class LoadMeter:
    """CPU used by other processes since the meter was made (or ``restart()``), in cores.

    Busy time of the whole machine (``/proc/stat``: user, nice, system, irq, softirq; guest time
    is inside user) minus this process's own (``os.times()``, with waited-for children), over
    the wall time. Steal (time the hypervisor gave our virtual CPUs to someone else) is reported
    apart. ``read()`` returns None for the load on a system without ``/proc/stat``."""

    def __init__(self):
        self.ticks_per_s = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.restart()

    def _snapshot(self):
        t = os.times()
        own = t.user + t.system + t.children_user + t.children_system
        try:
            with open("/proc/stat") as f:
                ticks = [int(v) for v in f.readline().split()[1:]] + [0] * 8
        except OSError:
            return time.monotonic(), None, None, own
        user, nice, system, _idle, _iowait, irq, softirq, steal = ticks[:8]
        busy = (user + nice + system + irq + softirq) / self.ticks_per_s
        return time.monotonic(), busy, steal / self.ticks_per_s, own

    def restart(self):
        self._start = self._snapshot()

    def read(self):
        """``{"other_cores", "steal_cores", "own_cores", "wall_s"}`` since the start."""
        wall0, busy0, steal0, own0 = self._start
        wall1, busy1, steal1, own1 = self._snapshot()
        wall = max(wall1 - wall0, 1e-9)
        own = (own1 - own0) / wall
        if busy0 is None or busy1 is None:
            return {"other_cores": None, "steal_cores": None, "own_cores": own, "wall_s": wall}
        # tick accounting differs slightly between the two sources: never report below zero
        other = max(0.0, (busy1 - busy0) / wall - own)
        return {"other_cores": other, "steal_cores": (steal1 - steal0) / wall, "own_cores": own,
                "wall_s": wall}


def describe_load(load):
    """``"0.04 cores"``, with the steal when there is any."""
    if load["other_cores"] is None:
        return "unknown (no /proc/stat)"
    text = f"{load['other_cores']:.2f} cores"
    if load["steal_cores"] and load["steal_cores"] >= 0.01:
        text += f" (+ steal {load['steal_cores']:.2f})"
    return text


def load_is_high(load, warn=LOAD_WARN_CORES):
    return load["other_cores"] is not None and load["other_cores"] + (load["steal_cores"] or 0) > warn


def wait_for_quiet(max_load=LOAD_WARN_CORES, window_s=2.0, timeout_s=600.0):
    """Wait until other processes use at most ``max_load`` cores over a ``window_s`` window, or
    ``timeout_s`` has passed; returns the seconds waited (the caller's own work must be idle)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        meter = LoadMeter()
        time.sleep(window_s)
        if not load_is_high(meter.read(), max_load):
            break
    return time.monotonic() - start


# ---------------------------------------------------------------- timing

def settle(pause=PAUSE_S):
    """Let spinning BLAS/OpenMP workers go to sleep before the next timed batch."""
    if pause > 0:
        time.sleep(pause)


def time_batch(step, number):
    start = time.perf_counter()
    for _ in range(number):
        step()
    return time.perf_counter() - start


def calibrate(step, batch_s, pause=PAUSE_S, min_probe_s=0.05, max_load=None, retries=2,
              quiet_s=0):
    """Iterations of ``step`` that take about ``batch_s``, from this step's own timing (after a
    warm-up call): probe with 1, 2, 4, ... iterations until a probe lasts ``min_probe_s``. A
    probe beside more than ``max_load`` cores of other load is made again (as in
    ``interleaved``): a batch sized under load is too short, and a short batch after a pause
    is slow."""
    step()
    number, again = 1, 0
    while True:
        settle(pause)
        meter = LoadMeter()
        elapsed = time_batch(step, number)
        if max_load is not None and again < retries and load_is_high(meter.read(), max_load):
            again += 1
            if quiet_s > 0:
                wait_for_quiet(max_load, window_s=1.0, timeout_s=quiet_s)
            continue
        if elapsed >= min_probe_s or elapsed >= batch_s:
            return max(1, round(batch_s * number / elapsed))
        number *= 2


@dataclass
class Timing:
    """Seconds per iteration of one engine over the repeats, and the other processes' load (in
    cores) during each kept batch."""
    number: int
    samples: list = field(default_factory=list)
    loads: list = field(default_factory=list)
    redone: int = 0

    @property
    def median(self):
        return statistics.median(self.samples)

    @property
    def min(self):
        return min(self.samples)

    @property
    def max(self):
        return max(self.samples)


def interleaved(steps, repeat, batch_s, pause=PAUSE_S, max_load=None, retries=2, quiet_s=0):
    """Time each of ``steps`` (name -> callable) in ``repeat`` batches of about ``batch_s``
    seconds, each batch sized from its own engine's speed and preceded by a settle pause; one
    batch of every engine per repeat, the order rotated every repeat. With ``max_load``, a batch
    during which other processes used more cores than that is timed again (``retries`` times at
    most; the last try is kept whatever the load), after waiting up to ``quiet_s`` seconds for
    the load to drop."""
    timings = {name: Timing(calibrate(step, batch_s, pause, max_load=max_load, retries=retries,
                                      quiet_s=quiet_s))
               for name, step in steps.items()}
    names = list(steps)
    for r in range(repeat):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            t = timings[name]
            for attempt in range(retries + 1):
                settle(pause)
                meter = LoadMeter()
                elapsed = time_batch(steps[name], t.number)
                load = meter.read()
                if max_load is None or attempt == retries or not load_is_high(load, max_load):
                    break
                t.redone += 1
                if quiet_s > 0:
                    wait_for_quiet(max_load, window_s=1.0, timeout_s=quiet_s)
            t.samples.append(elapsed / t.number)
            if load["other_cores"] is not None:
                t.loads.append(load["other_cores"] + (load["steal_cores"] or 0))
    return timings


# ---------------------------------------------------------------- the machine

def add_options(parser, threads, batch_seconds):
    """The timing options every benchmark takes, with its own defaults for the thread count and
    the length of a timed batch."""
    parser.add_argument("--threads", type=int, default=threads,
                        help=f"threads of NumPy's pools and of PyTorch alike (default {threads})")
    parser.add_argument("--batch-seconds", type=float, default=batch_seconds,
                        help="length of one timed batch; each engine's iterations from its speed")
    parser.add_argument("--pause", type=float, default=PAUSE_S,
                        help="settle pause before each timed batch, seconds")
    parser.add_argument("--max-load", type=float, default=LOAD_WARN_CORES,
                        help="warn (and time a batch again) above this many cores of other load")
    parser.add_argument("--retries", type=int, default=2,
                        help="times a batch is timed again when the load exceeded --max-load")
    parser.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                        help="before each case and before timing a loaded batch again, wait up "
                             "to this long for the load to drop below --max-load")
    parser.add_argument("--json", metavar="PATH", help="also write the numbers to this JSON file")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_record(torch=None, **versions):
    """What a benchmark's JSON keeps of the run besides its numbers: the exact command line,
    the machine, the load average at the end (1, 5, 15 minutes), every thread pool that
    threadpoolctl sees (OpenBLAS's kernel, ``architecture``, included: it decides float32
    results and speed), and whether the compiled CPU loops ran (the Numba version) or NumPy's
    operations in their place ("off").

    >>> sorted(run_record())
    ['command', 'cpu_loops', 'load_average', 'machine', 'threadpools']
    """
    import shlex
    import sys
    import numpy
    from tinygrad_seq.backend import cpu_loops
    loops = cpu_loops(numpy, numpy.float32)
    try:
        from threadpoolctl import threadpool_info
        pools = threadpool_info()
    except ImportError:
        pools = "threadpoolctl is not installed"
    if torch is not None:
        versions.setdefault("torch", torch.__version__)
    return {"command": " ".join(shlex.quote(a) for a in ["python", *sys.argv]),
            "machine": machine_report(**versions),
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "cpu_loops": "off" if loops is None else loops.numba.__version__,
            "threadpools": pools if torch is None or isinstance(pools, str)
            else pools + [{"internal_api": "torch intra-op", "num_threads": torch.get_num_threads()}]}


def machine_report(**versions):
    """Lines describing the machine and the given ``name=version`` pairs."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    lines = [f"machine: {cpu_model()}, {os.cpu_count()} cores ({usable} usable), "
             f"{platform.platform()}"]
    lines.append("versions: python " + platform.python_version() + ", "
                 + ", ".join(f"{name} {v}" for name, v in versions.items()))
    return lines
