#!/usr/bin/env bash
# Audio model throughput on a GPU: WavLM-Large shapes with random weights, bf16, 4 s windows.
#   bash bench/gpu_audio.sh            (from the repository root; PYTHON overrides the interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || echo "no GPU visible"
"$PYTHON" bench/gpu_audio.py --batch 32 --steps 20 --json
"$PYTHON" bench/gpu_audio.py --batch 64 --steps 10 --json
