#!/usr/bin/env bash
# The GPU check of issue 5, sized for under 5 minutes on one modern GPU:
# MirroredStrategy equivalence on the GPU split into two logical GPUs, a
# mixed_float16 distillation, then distillation vs plain student training
# throughput with and without XLA. Needs TensorFlow with GPU support
# (`pip install -e ".[gpu]"`). Record what it prints in benchmarks/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 benchmarks/gpu_check.py
python3 benchmarks/speed.py --examples 60000 --batch-size 512 --epochs 4 --rounds 1
python3 benchmarks/speed.py --examples 60000 --batch-size 512 --epochs 4 --rounds 1 --jit
