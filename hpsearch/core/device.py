"""The one module that knows the Keras backend (TensorFlow, JAX or PyTorch) and the hardware: choosing the
backend, detecting the device, and the process-global state of a run (precision policy, seeds,
determinism, memory). Everything else in hpsearch is `keras`, `keras.ops` and numpy.

The backend must be chosen before Keras is first imported (Keras reads KERAS_BACKEND once), so this
module imports Keras and the backends lazily, inside functions.

Defaults per backend and device, as measured with `hpsearch bench` (README, "Speed"):
- GPU: compiled (XLA; torch stays eager) and mixed float16.
- CPU, TensorFlow: no XLA (TensorFlow 2.21's XLA CPU backend ran this network at half the speed of the
  oneDNN kernels that run without it); mixed bfloat16 where the CPU has bf16 instructions (avx512_bf16 or
  AMX): float32 variables, bfloat16 convolutions.
- CPU, JAX: always XLA (without jit Keras runs the smoke network's epochs 5x slower, measured); float32:
  mixed bfloat16 gained nothing (48.1 vs 48.8 images/s on a 2-core Xeon with AMX, `hpsearch bench`;
  XLA's CPU convolutions do not use the bf16 units).
- CPU, PyTorch: eager (torch.compile's first compile of this network costs minutes); mixed bfloat16 where
  the CPU has bf16 instructions (provisional: oneDNN, as for TensorFlow; to confirm with `hpsearch bench`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from hpsearch.errors import HpsearchError

BACKENDS = ("tensorflow", "jax", "torch")
DEFAULT_BACKEND = "tensorflow"
# what to install for each backend (pyproject extras); TensorFlow is a dependency of hpsearch itself
INSTALL = {
    "tensorflow": "pip install hpsearch (TensorFlow is a default dependency) or pip install tensorflow",
    "jax": "pip install 'hpsearch[jax]' (or 'hpsearch[jax-cuda]' on a GPU)",
    "torch": "pip install 'hpsearch[torch]'",
}
# backend -> does a CPU run default to mixed_bfloat16 where the CPU has bf16 instructions (measured, above)
CPU_BF16 = {"tensorflow": True, "jax": False, "torch": True}


class BackendError(HpsearchError):
    """The backend asked for is unknown, not installed, or Keras was already loaded with another one."""


def is_installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def installed_backends() -> list[str]:
    return [name for name in BACKENDS if is_installed(name)]


def choose_backend(name: str | None = None) -> str:
    """Select the Keras backend for this process: `name`, else $KERAS_BACKEND, else TensorFlow. Must run
    before Keras is imported; raises BackendError (one line, naming the fix) when it cannot be used."""
    name = name or os.environ.get("KERAS_BACKEND") or DEFAULT_BACKEND
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose one of: {', '.join(BACKENDS)}")
    if not is_installed(name):
        raise BackendError(f"backend {name!r} is not installed; {INSTALL[name]}")
    if "keras" in sys.modules:
        loaded = sys.modules["keras"].backend.backend()
        if loaded != name:
            raise BackendError(
                f"Keras is already running on {loaded!r} in this process; start a new process "
                f"with --backend {name} (or KERAS_BACKEND={name})"
            )
    os.environ["KERAS_BACKEND"] = name
    if name == "tensorflow":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # its Python-side chatter (--verbose shows the C++ lines)
    if name == "jax":
        # allocate GPU memory as needed instead of 75 % up front, so several runs can share one GPU
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    return name


@contextlib.contextmanager
def _quiet_fd2():
    """The backend's C++ start-up lines go to file descriptor 2 before any Python logging can filter them
    (TF_CPP_MIN_LOG_LEVEL does not reach the ones printed before absl initialises): point fd 2 at /dev/null
    while the backend loads and finds its devices, then restore it."""
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def load_quietly() -> None:
    """Import Keras (and so the chosen backend) and let TensorFlow look for GPUs, with the start-up lines hidden
    (`--verbose` shows them)."""
    with _quiet_fd2():
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices()
        elif keras.backend.backend() == "torch":
            # torch._dynamo's "hit config.recompile_limit" warnings (reported on Keras layers' stride and type-id
            # guards; dynamo then runs those frames eagerly): shown with --verbose, which skips load_quietly
            logging.getLogger("torch._dynamo").setLevel(logging.ERROR)
        if keras.backend.backend() != "tensorflow" and is_installed("tensorflow"):
            import tensorflow  # noqa: F401  Keras's data adapters import it on the other backends too, later and aloud


def chosen_backend() -> str:
    """The backend this process runs on, or will once Keras loads (choose_backend sets it), without loading it."""
    return os.environ.get("KERAS_BACKEND") or DEFAULT_BACKEND


def cache_root(folder: str | os.PathLike | None = None) -> Path:
    """Where compiled programs are kept: `folder`, else $HPSEARCH_CACHE_DIR, else ~/.cache/hpsearch."""
    folder = folder or os.environ.get("HPSEARCH_CACHE_DIR") or Path.home() / ".cache" / "hpsearch"
    return Path(folder).expanduser()


def use_compilation_cache(folder: str | os.PathLike | None = None) -> Path | None:
    """Keep this backend's compiled programs in <root>/<backend> (cache_root), so a run does not pay again
    for a compilation that an earlier run of the same shapes paid; returns the folder (delete it to clear),
    or None where the backend gets none. JAX: its persistent compilation cache, with the size and
    compile-time thresholds at zero (by default JAX keeps only programs that took over a second to compile).
    PyTorch: Inductor's cache (torch.compile only). TensorFlow: none. Its XLA persistent cache
    (--tf_xla_persistent_cache_directory) could not read back the entry TensorFlow 2.21 had written on this
    project's CPU ("Error parsing text-format tensorflow.XlaSerializedCacheEntry", then a recompile and a
    SIGILL warning from its AOT loader), so hpsearch does not turn it on."""
    global _cache_in_use
    name = chosen_backend()
    _cache_in_use = None
    if name == "tensorflow":
        return None
    path = cache_root(folder) / name
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackendError(
            f"cannot use {path} for compiled programs ({exc.strerror or exc}); pass --cache-dir DIR "
            f"or set HPSEARCH_CACHE_DIR to a writable folder"
        ) from None
    if name == "jax":
        import jax

        jax.config.update("jax_compilation_cache_dir", str(path))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    elif name == "torch":
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(path)
    _cache_in_use = path
    return path


_cache_in_use: Path | None = None


def cache_in_use() -> Path | None:
    """The folder use_compilation_cache chose in this process (None: no persistent cache)."""
    return _cache_in_use


def backend() -> str:
    """The backend Keras runs on in this process."""
    import keras

    return keras.backend.backend()


@dataclass(frozen=True)
class Device:
    kind: str  # "GPU" | "CPU"
    name: str
    backend: str  # "tensorflow" | "jax" | "torch"
    jit_compile: bool
    precision: str
    augment_on_device: bool = False

    @property
    def compiled(self) -> str:
        if self.backend == "torch":
            return "torch.compile" if self.jit_compile else "eager"
        return "XLA" if self.jit_compile else "no XLA"

    def __str__(self) -> str:
        where = ", augment on device" if self.augment_on_device else ""
        return f"{self.kind}: {self.name} ({self.backend}, {self.compiled}, {self.precision}{where})"


def detect() -> tuple[str, str]:
    """("GPU", its name) when the backend sees a GPU, else ("CPU", "<n> cores")."""
    name = backend()
    if name == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            return "GPU", tf.config.experimental.get_device_details(gpus[0]).get("device_name", gpus[0].name)
    elif name == "jax":
        import jax

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        if gpus:
            return "GPU", gpus[0].device_kind
    elif name == "torch":
        import torch

        if torch.cuda.is_available():
            return "GPU", torch.cuda.get_device_name(0)
    return "CPU", f"{os.cpu_count()} cores"


def describe() -> str:
    """The device and backend in one phrase, for headers: 'CPU (2 cores), backend tensorflow'."""
    kind, name = detect()
    return f"{kind} ({name}), backend {backend()}"


def cpu_has_bf16(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> bool:
    try:
        flags = Path(cpuinfo).read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def default_precision(kind: str, backend_name: str) -> str:
    if kind == "GPU":
        return "mixed_float16"
    return "mixed_bfloat16" if CPU_BF16[backend_name] and cpu_has_bf16() else "float32"


def default_jit(kind: str, backend_name: str) -> bool:
    if backend_name == "jax":
        return True
    if backend_name == "torch":
        return False
    return kind == "GPU"


def default_augment_on_device(kind: str, backend_name: str) -> bool:
    """GPU: yes (the host pipeline, not the step, set the pace there: issue 8). CPU: no, on every backend
    (measured with `hpsearch bench`: README, "Speed"; host and device share the same cores, and numpy's
    augmentation is cheaper than the backends' gathers)."""
    return kind == "GPU"


def setup(config) -> Device:
    """Seeds, determinism and precision for one run of `config`; returns what it chose. On TensorFlow it
    also turns tf.data's autotune off in the datasets Keras makes, for the rest of the process
    (tf_data_without_autotune)."""
    import keras

    name = backend()
    kind, device_name = detect()
    jit = config.jit_compile if config.jit_compile is not None else default_jit(kind, name)
    precision = config.precision or default_precision(kind, name)
    on_device = (
        config.augment_on_device if config.augment_on_device is not None else default_augment_on_device(kind, name)
    )
    keras.backend.clear_session(free_memory=True)
    keras.mixed_precision.set_global_policy(precision)
    keras.utils.set_random_seed(config.seed)  # Python, numpy and the backend's own generators
    set_op_determinism(config.deterministic and not jit)
    if name == "tensorflow":
        tf_data_without_autotune()
    return Device(kind, device_name, name, jit, precision, on_device)


def tf_data_without_autotune() -> None:
    """Keras's TensorFlow adapters for arrays and for a PyDataset without workers (hpsearch's batches) end
    the datasets they make for fit, evaluate and predict with prefetch(AUTOTUNE). tf.data's autotune thread
    then sleeps in doubling periods (10 ms, 20 ms, ... up to 60 s), and freeing an epoch's iterator can wait
    for its next wake-up with every core idle. Measured on 2 cores (TensorFlow 2.21): from one in seven to
    two in three of the 1,024-image epochs that computed in 5-7 s ended at 10.23-10.34 s instead. With
    autotune off (per dataset, tf.data.Options) the prefetch stays and the wait goes (README, "Speed").
    Keras has no option for it, so this wraps the two adapters' get_tf_dataset, once per process (Keras
    3.15's modules); a Keras that moved them keeps autotune (slower, not wrong)."""
    try:
        from keras.src.trainers.data_adapters import array_data_adapter, py_dataset_adapter

        adapters = [array_data_adapter.ArrayDataAdapter, py_dataset_adapter.PyDatasetAdapter]
        made = [adapter.get_tf_dataset for adapter in adapters]
    except (ImportError, AttributeError):
        return
    for adapter, get_tf_dataset in zip(adapters, made):
        if not getattr(get_tf_dataset, "without_autotune", False):
            adapter.get_tf_dataset = _without_autotune(get_tf_dataset)


def _without_autotune(get_tf_dataset):
    """get_tf_dataset, its dataset with tf.data's autotune off."""
    import functools

    import tensorflow as tf

    @functools.wraps(get_tf_dataset)
    def wrapped(self):
        options = tf.data.Options()
        options.autotune.enabled = False
        return get_tf_dataset(self).with_options(options)

    wrapped.without_autotune = True
    return wrapped


def set_op_determinism(enable: bool) -> None:
    """Deterministic kernels where the backend needs asking.
    TensorFlow: op determinism, only without XLA: Keras turns XLA off while it is on, and XLA cannot
    compile some gradients (MaxPool on GPU) under it; XLA on CPU is deterministic by itself (tested).
    PyTorch: deterministic algorithms (CPU kernels are; on GPU this also pins cuDNN's choices).
    JAX: nothing to do on CPU (deterministic by default); on GPU set XLA_FLAGS=--xla_gpu_deterministic_ops
    before starting (it cannot change once JAX has started)."""
    name = backend()
    if name == "tensorflow":
        import tensorflow as tf
        from tensorflow.python.framework import config as tf_config

        if enable:
            tf.config.experimental.enable_op_determinism()
        elif tf_config.is_op_determinism_enabled():
            tf_config.disable_op_determinism()
    elif name == "torch":
        import torch

        if enable:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS needs it before its first use
        torch.use_deterministic_algorithms(enable, warn_only=True)
        torch.backends.cudnn.benchmark = not enable


def share_environment(n_cores: int, gpu: str | None, memory_fraction: float | None) -> dict[str, str]:
    """Environment variables that give a process started with them (a study worker) `n_cores` threads and, with
    `gpu`, that GPU (nvidia-smi's numbering); with `memory_fraction`, at most that share of its memory:
    JAX preallocates 75 % by default (two would not fit), TensorFlow grows as needed, PyTorch's allocator
    expands segments rather than hold fragments. Read by the backend when it starts, so set before."""
    env = {
        "OMP_NUM_THREADS": str(n_cores),
        "MKL_NUM_THREADS": str(n_cores),
        "TF_NUM_INTRAOP_THREADS": str(n_cores),
        "TF_NUM_INTEROP_THREADS": str(min(2, n_cores)),
    }
    if gpu is not None:
        env.update(CUDA_DEVICE_ORDER="PCI_BUS_ID", CUDA_VISIBLE_DEVICES=gpu)
        if memory_fraction is not None:
            env.update(
                TF_FORCE_GPU_ALLOW_GROWTH="true",
                XLA_PYTHON_CLIENT_MEM_FRACTION=f"{memory_fraction:.3f}",
                PYTORCH_CUDA_ALLOC_CONF="expandable_segments:True",
            )
    return env


def reset_state() -> None:
    """Global Keras state back to a fresh process's (tests): float32 policy, no op determinism, new session."""
    import keras

    keras.mixed_precision.set_global_policy("float32")
    set_op_determinism(False)
    if backend() == "torch":
        import torch

        torch.backends.cudnn.benchmark = False  # a fresh process's value (set_op_determinism(False) turns it on)
    keras.backend.clear_session()


OOM_TYPES = {"ResourceExhaustedError", "OutOfMemoryError", "MemoryError"}  # TensorFlow, PyTorch, Python
OOM_TEXT = ("RESOURCE_EXHAUSTED", "out of memory")  # JAX/XLA's XlaRuntimeError, CUDA


def out_of_memory(exc: BaseException) -> str | None:
    """The fail_reason of an out-of-(GPU-)memory error, else None: such a trial failed because of its own
    configuration (a batch too large for the device), not because the study is broken, so the study goes on.
    Matched by name and text: each backend's error class is only importable with that backend loaded."""
    first = str(exc).splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
    if type(exc).__name__ in OOM_TYPES or any(text in first for text in OOM_TEXT):
        return f"out of memory: {first}"
    return None
