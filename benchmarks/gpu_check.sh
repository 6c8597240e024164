#!/usr/bin/env bash
# The GPU check: on a machine with a GPU and any one Keras backend (JAX, PyTorch or TensorFlow), run the
# full-protocol baseline once and a 6-trial full-profile study, then print accuracy (val, test plain, test
# TTA), wall and train seconds, first-epoch (compilation) seconds, steady images/s and peak GPU memory; then
# `hpsearch bench --study`: trials/hour with --workers 1 and with --workers 4, side by side.
#
#   benchmarks/gpu_check.sh [DATA_DIR]        # DATA_DIR holds cifar-10-batches-py/ (default $HPSEARCH_DATA_DIR)
#
# Works offline and without TensorFlow: install hpsearch with `pip install --no-deps` plus the wheels it
# lacks (see the README, "GPU check"). Settings (environment):
#   KERAS_BACKEND                 the backend (default: the first installed of jax, torch, tensorflow)
#   HPSEARCH_GPU_CHECK_PROFILE    run size (default full); `smoke` checks the script itself on a CPU in a minute
#   HPSEARCH_GPU_CHECK_TRIALS     study trials (default 6)
#   HPSEARCH_GPU_CHECK_WORKERS    then `hpsearch bench --study` with --workers 1 and with this N (default 4; 0 skips)
#   HPSEARCH_GPU_CHECK_BENCH_TRIALS  trials on each side of that comparison (default 8)
#   HPSEARCH_GPU_CHECK_OUT        output folder (default a new /tmp/hpsearch-gpu-check.*)
#   HPSEARCH_CMD                  how to start hpsearch (default "$PYTHON -m hpsearch.cli", PYTHON=python3)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
data=${1:-${HPSEARCH_DATA_DIR:-}}
profile=${HPSEARCH_GPU_CHECK_PROFILE:-full}
trials=${HPSEARCH_GPU_CHECK_TRIALS:-6}
bench_workers=${HPSEARCH_GPU_CHECK_WORKERS:-4}
bench_trials=${HPSEARCH_GPU_CHECK_BENCH_TRIALS:-8}
out=${HPSEARCH_GPU_CHECK_OUT:-$(mktemp -d /tmp/hpsearch-gpu-check.XXXXXX)}
read -r -a hpsearch <<< "${HPSEARCH_CMD:-$PY -m hpsearch.cli}"
backend=${KERAS_BACKEND:-}
if [ -z "$backend" ]; then
  for candidate in jax torch tensorflow; do
    if "$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$candidate') is None)"; then
      backend=$candidate; break
    fi
  done
fi
[ -n "$backend" ] || { echo "gpu_check: no Keras backend installed (jax, torch or tensorflow)" >&2; exit 2; }
data_args=()
[ -n "$data" ] && data_args=(--data-dir "$data")
mkdir -p "$out"

# Peak GPU memory: nvidia-smi sampled twice a second in the background (any backend, any process).
gpu="none (nvidia-smi not found)"
sampler=
if command -v nvidia-smi >/dev/null; then
  gpu=$(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | head -n 1)
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 500 > "$out/gpu_memory.csv" 2>/dev/null &
  sampler=$!
fi
trap '[ -n "$sampler" ] && kill "$sampler" 2>/dev/null || true' EXIT
echo "gpu_check: backend $backend, profile $profile, $trials trials, GPU $gpu, output $out"

ms() { echo $(( $(date +%s%N) / 1000000 )); }
start=$(ms)
"${hpsearch[@]}" baseline --backend "$backend" --profile "$profile" ${data_args[@]+"${data_args[@]}"} --out "$out" --name baseline
baseline_wall=$(( $(ms) - start ))
start=$(ms)
"${hpsearch[@]}" study --backend "$backend" --profile "$profile" --trials "$trials" ${data_args[@]+"${data_args[@]}"} \
  --out "$out" --study-name gpu-check
study_wall=$(( $(ms) - start ))
[ -n "$sampler" ] && kill "$sampler" 2>/dev/null || true

"$PY" - "$out" "$baseline_wall" "$study_wall" "$gpu" <<'PY'
import json, statistics, sys
from pathlib import Path

from hpsearch.record.storage import load_study
from hpsearch.record.trials import epoch_rows

out, baseline_wall, study_wall, gpu = Path(sys.argv[1]), float(sys.argv[2]) / 1000, float(sys.argv[3]) / 1000, sys.argv[4]
m = json.loads((out / "reports" / "baseline" / "metrics.json").read_text())  # record/paths.py's rule
first = m.get("first_epoch_seconds") or m["epochs"][0]["seconds"]
steady = m.get("steady_epoch_seconds")
print(f"\n== GPU check: {gpu}; device {m['device']}")
print(f"baseline ({m['config']['epochs']} epochs, {m['epochs_run']} run): val {100 * m['val_accuracy']:.2f} %, "
      f"test {100 * m['test_accuracy']:.2f} %, test TTA {100 * m['test_accuracy_tta']:.2f} %")
print(f"  wall {baseline_wall:.1f} s (start-up, data, training, test), train {m['train_seconds']:.1f} s, "
      f"first epoch (compiles) {first:.1f} s, steady epochs {'-' if steady is None else f'{steady:.1f}'} s "
      f"({m['images_per_second']:.0f} images/s)")
study = load_study(str(out / "studies" / "gpu-check.journal"), "gpu-check")
done = [t for t in study.trials if t.state.is_finished()]
states = {}
for t in done:
    states[t.state.name.lower()] = states.get(t.state.name.lower(), 0) + 1
print(f"study: {len(done)} trials ({', '.join(f'{n} {s}' for s, n in sorted(states.items()))}) in wall {study_wall:.1f} s, "
      f"{3600 * len(done) / study_wall:.1f} trials/hour")
for t in done:
    seconds = (t.datetime_complete - t.datetime_start).total_seconds()
    value = "-" if t.values is None else f"{100 * t.values[0]:.2f} %"
    rows = epoch_rows(t)
    epochs = (f"first epoch {rows[0]['seconds']:.1f} s, steady "
              f"{statistics.median(r['seconds'] for r in rows[1:]):.1f} s" if len(rows) > 1 else "")
    print(f"  trial {t.number}: {t.state.name.lower():8s} val {value}  {seconds:.1f} s  {epochs}  {t.params}")
memory = out / "gpu_memory.csv"
used = [int(line) for line in memory.read_text().split() if line.strip().isdigit()] if memory.exists() else []
print(f"peak GPU memory in use: {max(used)} MiB" if used else "peak GPU memory: not measured (no nvidia-smi)")
PY

# Many trials at once: K trials with --workers 1 and with --workers N, side by side (hpsearch bench --study).
if [ "$bench_workers" != 0 ]; then
  "${hpsearch[@]}" bench --study --backend "$backend" --profile "$profile" --trials "$bench_trials" \
    --workers "$bench_workers" ${data_args[@]+"${data_args[@]}"}
fi
