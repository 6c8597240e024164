"""Which steps JAX compiles in one smoke run (train + TTA evaluation), and the first epoch's seconds, with
the persistent compilation cache in CACHE_DIR: run it twice, the second run loads its programs from the
cache. A benchmark, not a test.

    PYTHONPATH=. python benchmarks/jax_compiles.py CACHE_DIR [host|device]
"""

import logging
import re
import sys
import tempfile
import time
from pathlib import Path

from hpsearch.core.device import choose_backend, use_compilation_cache

if len(sys.argv) < 2 or sys.argv[2:3] not in ([], ["host"], ["device"]):
    sys.exit("usage: PYTHONPATH=. python benchmarks/jax_compiles.py CACHE_DIR [host|device]")
choose_backend("jax")
print("compilation cache:", use_compilation_cache(sys.argv[1]))
import jax  # noqa: E402

from hpsearch.core.config import TrainConfig  # noqa: E402
from hpsearch.core.data import load_cifar10, write_synthetic_cifar10  # noqa: E402
from hpsearch.core.evaluate import evaluate_test  # noqa: E402
from hpsearch.core.train import train  # noqa: E402

jax.config.update("jax_log_compiles", True)
messages = []


class Collect(logging.Handler):
    def emit(self, record):
        messages.append(record.getMessage())


logging.getLogger("jax").addHandler(Collect())
data = load_cifar10(write_synthetic_cifar10(Path(tempfile.mkdtemp()) / "cifar-10-batches-py"), download=False)
config = TrainConfig.from_profile("smoke", augment_on_device=(sys.argv[2:] or ["host"])[0] == "device")
start = time.perf_counter()
result = train(config, data)
evaluate_test(result, data)
compiled = [m.group(1) for m in (re.search(r"compilation of jit\((\w*step\w*)\)", s) for s in messages) if m]
print("steps compiled (or loaded from the cache):", compiled)
print(
    f"first epoch {result.first_epoch_seconds:.2f} s, steady epoch {result.steady_epoch_seconds:.2f} s, "
    f"train + evaluation {time.perf_counter() - start:.1f} s"
)
