#!/usr/bin/env bash
# Everything this project needs a GPU machine for, as one device call:
#   1. experiments/bench_gpu.py: 10,000 seeds x 3000 epochs (the blog's protocol) and a probe
#      (about 2.5 minutes on an H100/H200);
#   2. the CPU engines on the GPU machine's host CPU (16 cores): experiments/bench_throughput.py
#      without the PyTorch baselines (about 1.5 minutes);
#   with FULL=1 also (about 4 more minutes)
#   3. the canonical run: 1024 seeds x 3000 epochs of the blog's protocol (-> results/blog1024);
#   4. experiments/find_general.py at 256 seeds x 3000 epochs.
# Usage: OUT=/some/dir [FULL=1] bash experiments/gpu_session.sh   (each step has its own limit)
set -u
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/gpu_out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
timeout 220 python3 experiments/bench_gpu.py --probe-seeds 1024 --probe-epochs 98 --budget-s 200 \
    --out "$OUT/gpu" 2>&1 | grep -v -i warning
lscpu | grep -E "Model name|^CPU\(s\)"
export GRU_JAX_CACHE=/tmp/gru_jax_cache
JAX_PLATFORMS=cpu timeout 150 python3 experiments/bench_throughput.py --skip-baselines \
    --jax-seeds 16,256,1024,4096 --xla-seeds '' --out "$OUT/cpu_native" 2>&1 | grep -v -i warning
JAX_PLATFORMS=cpu timeout 80 python3 experiments/bench_throughput.py --skip-baselines \
    --jax-seeds '' --xla-seeds 1024 --out "$OUT/cpu_xla" 2>&1 | grep -v -i warning
if [ "${FULL:-0}" = 1 ]; then
  start=$(date +%s)
  timeout 90 python3 -m gru_jax.cli train --seeds 1024 --epochs 3000 --out "$OUT/blog1024" --no-progress \
      && tar czf "$OUT/blog1024.tgz" -C "$OUT" blog1024 && rm -rf "$OUT/blog1024"
  echo "canonical run: $(( $(date +%s) - start )) s"
  mkdir -p "$OUT/fg"
  timeout 75 python3 experiments/find_general.py --seeds 256 --epochs 3000 --out "$OUT/fg/a" \
      --only blog larger_lr longer_training 2>&1 | grep -v -i warning
  timeout 75 python3 experiments/find_general.py --seeds 256 --epochs 3000 --out "$OUT/fg/b" \
      --only mixed_lengths more_flags 2>&1 | grep -v -i warning
  tar czf "$OUT/find_general.tgz" -C "$OUT" fg && rm -rf "$OUT/fg"
fi
ls -la "$OUT" "$OUT"/*
