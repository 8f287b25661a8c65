#!/usr/bin/env bash
# The GPU checks of the speed work in one go, on a machine with a CUDA device and this project's
# dependencies installed; results (logs and JSON) go to the folder given as the first argument.
#   1. the GPU tests (bf16 autocast against fp32, the demo on `trainer=gpu`);
#   2. bf16 pretraining steps and classifier inference against transformers, same run;
#   3. a ViT-B pretraining run fed by the data pipeline: its data-wait share.
# About 5 to 8 minutes on one H200 (16 CPU cores), most of it in step 3.
set -euo pipefail
out=${1:-gpu_check}
mkdir -p "$out"
python=${PYTHON:-python}
export PYTHONUNBUFFERED=1

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
"$python" -m pytest -m gpu -q -p no:cacheprovider tests/test_gpu.py 2>&1 | tee "$out/pytest_gpu.log"
"$python" benchmarks/model_speed.py --device cuda --dtype bfloat16 --batches 1,8,32 --repeats 10 \
    --json "$out/bench_bf16.json" 2>&1 | tee "$out/bench_bf16.log"
"$python" benchmarks/data_wait.py --out "${DATA_WAIT_DIR:-/tmp/data_wait}" --size base \
    --batch 32 --steps 60 --json "$out/data_wait.json" 2>&1 | tail -n 40 | tee "$out/data_wait.log"
