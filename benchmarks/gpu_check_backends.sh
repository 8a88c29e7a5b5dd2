#!/usr/bin/env bash
# Issue 19's GPU check, for the lent GPU machine: JAX and PyTorch with CUDA,
# no TensorFlow. Each backend gets at most 2.5 minutes; about 5 in all.
# Keras and what it needs beyond that machine's packages travel as wheels in
# .whl/ (see /work/.library/device/README.md), fetched here once with:
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#     --implementation cp --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#     -d .whl keras==3.15.1 namex optree ml_dtypes
# keras_kd itself runs from the checkout (PYTHONPATH). Record what it prints
# in benchmarks/RESULTS.md.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
fi
export PYTHONPATH="$PWD:${PYTHONPATH:-}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
status=0
for backend in jax torch; do
  echo "=== KERAS_BACKEND=$backend"
  KERAS_BACKEND=$backend timeout 150 python3 benchmarks/gpu_check_backends.py "$@" || status=1
done
exit $status
