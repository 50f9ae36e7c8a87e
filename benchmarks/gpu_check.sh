#!/usr/bin/env bash
# GPU readiness in at most 8 minutes on a machine with an NVIDIA GPU (exits 0 saying it skipped
# without one): the CUDA-marked tests, then every bundled model end to end on ONNX Runtime's
# CUDA provider and on torch CUDA (fp32 and fp16 autocast), with the fp16 drift.
#   bash benchmarks/gpu_check.sh [OUT_FOLDER]     (default benchmarks/out/gpu)
# Needs onnxruntime-gpu and a CUDA build of torch in $PYTHON's environment.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
OUT=${1:-benchmarks/out/gpu}
export QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen}

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "skipped: no NVIDIA GPU (nvidia-smi found none)"
  exit 0
fi
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
"$PYTHON" - <<'PY' | tee "$OUT/backends.txt"
import onnxruntime, torch
print("onnxruntime", onnxruntime.__version__, onnxruntime.get_available_providers())
print("torch", torch.__version__, "CUDA", torch.version.cuda, "available", torch.cuda.is_available())
PY

echo "== CUDA-marked tests (at most 3 min)"
timeout 180 "$PYTHON" -m pytest -q -m cuda -p no:cacheprovider tests | tee "$OUT/cuda_tests.txt"

echo "== end-to-end throughput and fp16 drift (at most 4 min)"
timeout 240 "$PYTHON" benchmarks/backends.py --gpu --size 2048 --repeats 3 --out "$OUT/backends_gpu.json"
"$PYTHON" benchmarks/backends_table.py "$OUT/backends_gpu.json" --out "$OUT/backends_gpu.md"
echo "done: $OUT"
