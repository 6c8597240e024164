"""Several workers of one study on one machine (`hpsearch study --workers N`): how many, each one's share of
the hardware, and the parent that starts, relays and stops them.

Each worker is an ordinary `hpsearch study` process on the shared storage, so the rules for one hold for N:
the study ends at its total, a killed worker's trial is failed and retried, pruning compares with the same
baseline. This module only decides what each process is given, as environment variables the backend reads
when it starts (the one place that knows those knobs) and a set of CPU cores:
- CPU: the cores are split into disjoint sets (sched_setaffinity), with the thread pools sized to match.
- one GPU shared by k workers: each may use 0.9/k of its memory (core/device.py's share_environment sets each
  backend's own knob). Several GPUs: workers go round-robin over them (CUDA_VISIBLE_DEVICES).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from hpsearch.core.device import share_environment
from hpsearch.errors import HpsearchError

CORES_PER_CPU_WORKER = 2  # --workers auto on a CPU: one worker per this many cores (README: bench --study)
GIB_PER_GPU_WORKER = 8  # --workers auto on a GPU: one worker per this much GPU memory ...
MAX_PER_GPU = 4  # ... and at most this many on one GPU (more only queue on its SMs)
CORES_PER_GPU_WORKER = 2  # a GPU worker's host side (data pipeline, Python) needs cores of its own
GPU_MEMORY_FRACTION = 0.9  # of a GPU, split between the workers on it (the rest: CUDA contexts, the driver)

# Options that reach each worker in its environment, not on its command line, where any user of the machine could
# read a password in the process table (ps): option dest -> variable (handed_over, take_over)
STORAGE_ENV = "HPSEARCH_WORKER_STORAGE"
MLFLOW_ENV = "HPSEARCH_WORKER_MLFLOW"  # a tracking URI may hold a password too
HANDED_OVER = {"storage": STORAGE_ENV, "mlflow": MLFLOW_ENV}
# the child command; the worker's own argv follows (tests put a stand-in for training here)
WORKER_COMMAND = [sys.executable, "-m", "hpsearch.cli", "study"]


@dataclass(frozen=True)
class Gpu:
    index: str  # as nvidia-smi numbers it (the workers get CUDA_DEVICE_ORDER=PCI_BUS_ID)
    name: str = "GPU"
    memory_mib: int | None = None


@dataclass(frozen=True)
class Worker:
    number: int  # 1-based, the prefix of its console lines
    cores: tuple[int, ...]
    gpu: str | None = None
    gpu_share: int = 1  # how many workers share its GPU
    env: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        where = (
            f"GPU {self.gpu}" + (f" (1/{self.gpu_share} of its memory)" if self.gpu_share > 1 else "")
            if self.gpu is not None
            else "CPU"
        )
        return f"worker {self.number}: {where}, cores {_ranges(self.cores)}"


# --- how many, and what each gets ---------------------------------------------------------------------


def parse_workers(text: str) -> int | str:
    """argparse type of --workers: a positive number or "auto"."""
    if text == "auto":
        return text
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"--workers takes a positive number or auto, not {text!r}")
    return int(text)


def parse_gpus(text: str) -> list[str]:
    """argparse type of --gpus: "0,1" -> ["0", "1"] (CUDA device numbers, each once)."""
    gpus = [g.strip() for g in text.split(",") if g.strip()]
    if not gpus or not all(g.isdigit() for g in gpus) or len(set(gpus)) != len(gpus):
        raise ValueError(f"--gpus takes distinct GPU numbers separated by commas, e.g. 0,1; not {text!r}")
    return gpus


def visible_gpus() -> list[Gpu]:
    """The NVIDIA GPUs this process may use (CUDA_VISIBLE_DEVICES applied), from nvidia-smi so that the parent
    never starts a backend (which could take GPU memory the workers need). None without nvidia-smi."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        text = subprocess.run(
            ["nvidia-smi", "--query-gpu=index,name,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    found = []
    for line in text.strip().splitlines():
        index, name, memory = (part.strip() for part in line.split(",", 2))
        found.append(Gpu(index, name, int(memory) if memory.isdigit() else None))
    allowed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if allowed is not None:  # numbers as nvidia-smi's (the workers get CUDA_DEVICE_ORDER=PCI_BUS_ID)
        keep = {g.strip() for g in allowed.split(",")}
        found = [g for g in found if g.index in keep]
    return found


def auto_count(cores: int, gpus: list[Gpu]) -> tuple[int, str]:
    """--workers auto: how many workers this hardware runs well at once, and why, in one line."""
    if not gpus:
        n = max(1, cores // CORES_PER_CPU_WORKER)
        return n, (
            f"{n} worker{'s' if n != 1 else ''}: no GPU, {cores} cores, one worker per {CORES_PER_CPU_WORKER} cores"
        )
    per_gpu = []
    for gpu in gpus:
        by_memory = (gpu.memory_mib // 1024) // GIB_PER_GPU_WORKER if gpu.memory_mib else 1
        per_gpu.append(max(1, min(MAX_PER_GPU, by_memory)))
    n = min(sum(per_gpu), max(len(gpus), cores // CORES_PER_GPU_WORKER))
    memory = ", ".join(
        f"GPU {g.index} {g.name} {g.memory_mib / 1024:.0f} GiB" if g.memory_mib else f"GPU {g.index}" for g in gpus
    )
    return n, (
        f"{n} worker{'s' if n != 1 else ''}: {memory}; one per {GIB_PER_GPU_WORKER} GiB of GPU memory, at "
        f"most {MAX_PER_GPU} per GPU and one per {CORES_PER_GPU_WORKER} of the {cores} cores"
    )


def plan(
    workers: int | str, gpus: list[str] | None = None, *, cores: list[int] | None = None, found: list[Gpu] | None = None
) -> tuple[list[Worker], str]:
    """The workers to start and a line that says what was picked and why. `gpus`: --gpus (None: every visible
    GPU; [] would mean none). `cores` and `found` default to this machine's (given by tests)."""
    cores = sorted(os.sched_getaffinity(0)) if cores is None else list(cores)
    found = visible_gpus() if found is None else found
    if gpus is not None:
        known = {g.index: g for g in found}
        missing = [g for g in gpus if g not in known]
        if missing:  # CUDA would quietly hide it, and the worker train on the CPU
            listed = f"GPUs {', '.join(known)} are" if known else "no GPU is"
            raise HpsearchError(
                f"--gpus {','.join(gpus)}: no GPU {', '.join(missing)} on this machine ({listed} visible to "
                f"nvidia-smi and CUDA_VISIBLE_DEVICES); pass GPUs that exist, or leave --gpus out"
            )
        use = [known[g] for g in gpus]
    else:
        use = found
    if workers == "auto":
        n, why = auto_count(len(cores), use)
    else:
        n, why = int(workers), f"{workers} worker{'s' if workers != 1 else ''} (--workers)"
    if gpus is not None and workers != "auto" and n < len(gpus):
        raise HpsearchError(
            f"--gpus names {len(gpus)} GPUs but --workers is {n}; pass --workers {len(gpus)} (or more), or fewer GPUs"
        )
    on_gpu = [use[i % len(use)].index for i in range(n)] if use else [None] * n
    shares = {g: on_gpu.count(g) for g in set(on_gpu)}
    return [
        Worker(i + 1, part, gpu, shares[gpu], worker_env(len(part), gpu, shares[gpu]))
        for i, (part, gpu) in enumerate(zip(split_cores(cores, n), on_gpu))
    ], why


def split_cores(cores: list[int], n: int) -> list[tuple[int, ...]]:
    """`cores` in n disjoint, contiguous sets as even as can be; with fewer cores than workers, one core
    each, shared round-robin."""
    if n > len(cores):
        return [(cores[i % len(cores)],) for i in range(n)]
    size, extra = divmod(len(cores), n)
    out, start = [], 0
    for i in range(n):
        end = start + size + (i < extra)
        out.append(tuple(cores[start:end]))
        start = end
    return out


def worker_env(n_cores: int, gpu: str | None, gpu_share: int) -> dict[str, str]:
    """The environment one worker's backend reads at start-up: its thread pools and its GPU (see module doc;
    the backends' own variables are core/device.py's)."""
    return share_environment(n_cores, gpu, GPU_MEMORY_FRACTION / gpu_share if gpu_share > 1 else None)


def _ranges(cores: tuple[int, ...]) -> str:
    return (
        ",".join(map(str, cores))
        if len(cores) < 3 or cores[-1] - cores[0] + 1 != len(cores)
        else f"{cores[0]}-{cores[-1]}"
    )


# --- the parent ----------------------------------------------------------------------------------------


def handed_over(options: dict[str, str | None]) -> dict[str, str]:
    """The environment variables that carry the HANDED_OVER options given (dest -> value) to a worker."""
    return {HANDED_OVER[dest]: value for dest, value in options.items() if dest in HANDED_OVER and value}


def take_over(args) -> None:
    """In a worker: each HANDED_OVER option its command line lacks, from the variable its parent set."""
    for dest, variable in HANDED_OVER.items():
        if getattr(args, dest) is None:
            setattr(args, dest, os.environ.get(variable) or None)


def run_workers(
    workers: list[Worker],
    argv: list[str],
    say,
    *,
    width: int = 120,
    storage: str | None = None,
    mlflow: str | None = None,
) -> dict[int, int]:
    """Start every worker (WORKER_COMMAND + argv + --worker-number), relay their lines prefixed "wN: " through
    `say(line)`, wait for all, and return {number: exit code}; `storage` and `mlflow` reach them in their
    environment (HANDED_OVER). The first Ctrl-C (SIGINT) or SIGTERM is passed on to every worker, which then records its
    running trial as failed and stops; a second one kills them (their trials are then failed and retried by the
    next start, as for any killed worker)."""
    package_root = str(Path(__file__).resolve().parents[2])  # the workers run this same copy of hpsearch
    procs: dict[int, subprocess.Popen] = {}
    lock = threading.RLock()  # the signal handler runs in the main thread, maybe inside say()
    signals = {"count": 0}

    def stop(signum, frame):
        signals["count"] += 1
        live = [p for p in procs.values() if p.poll() is None]
        if signals["count"] == 1:
            with lock:
                say(
                    f"stopping {len(live)} worker(s): each records its running trial as failed; "
                    f"press Ctrl-C again to kill them"
                )
        for p in live:
            p.send_signal(signum if signals["count"] == 1 else signal.SIGKILL)

    main = threading.current_thread() is threading.main_thread()  # only it may set signal handlers
    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)} if main else {}
    relays = []
    try:
        for w in workers:
            if signals["count"]:
                break  # stopped while starting: start no more
            env = {
                **os.environ,
                **w.env,
                "COLUMNS": str(width),
                "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
                **handed_over({"storage": storage, "mlflow": mlflow}),
            }
            # a session of its own: a Ctrl-C in the terminal reaches the parent only, which passes it on exactly
            # once (a second SIGINT during a worker's cleanup would cut short the recording of its trial)
            procs[w.number] = p = subprocess.Popen(
                [*WORKER_COMMAND, *argv, "--worker-number", str(w.number)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
                preexec_fn=_pin(w.cores),
            )
            relays.append(threading.Thread(target=_relay, args=(w.number, p.stdout, say, lock), daemon=True))
            relays[-1].start()
        codes = {n: p.wait() for n, p in procs.items()}
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    for t in relays:
        t.join(timeout=5)
    if signals["count"]:
        raise KeyboardInterrupt
    return codes


def _pin(cores: tuple[int, ...]):
    """Runs in the child between fork and exec: the cores are set before the backend starts any thread."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    return lambda: os.sched_setaffinity(0, cores)


def _relay(number: int, stream, say, lock: threading.Lock) -> None:
    for line in stream:
        with lock:
            say(f"w{number}: {line.rstrip()}")
