#!/usr/bin/env bash
# The checks that need GPUs, in one run that ends with one table:
#   1. training steps/s of the published face model (hidden 256, 5 layers, 8 heads, 8 windows of 400
#      frames) in fp32, fp16 and bf16 autocast, attention dropout 0.1 and 0 (bench/visual_train_step.py);
#   2. DDP over NCCL on every GPU present (torchrun; the ranks must split the data and end with equal
#      weights, and only rank 0 writes);
#   3. resume on the GPU: 1 epoch + resume to 2 must give the weights of 2 uninterrupted epochs, which
#      needs the CUDA generator state saved in last.pt (the model draws dropout masks on the GPU).
#
#   bash bench/gpu_check.sh            # from the repository root, with PYTHON pointing at the venv
#
# DEVICE=cpu runs the same checks on the CPU (gloo instead of NCCL): a dry run of the script itself,
# best with ARCH=demo ROUNDS=1 STEPS=1.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
DEVICE=${DEVICE:-cuda}
ARCH=${ARCH:-published}
ROUNDS=${ROUNDS:-3}
STEPS=${STEPS:-4}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}

if [ "$DEVICE" = cuda ]; then
    GPUS=$("$PYTHON" -c "import torch; print(torch.cuda.device_count())")
    if [ "$GPUS" -lt 1 ]; then
        echo "error: no CUDA device visible; run on a GPU machine (or DEVICE=cpu for a dry run)" >&2
        exit 1
    fi
else
    GPUS=2
    export CUDA_VISIBLE_DEVICES=""
fi

echo "1/3 training steps of the $ARCH architecture on $DEVICE" >&2
"$PYTHON" bench/visual_train_step.py --arch "$ARCH" --device "$DEVICE" --rounds "$ROUNDS" --steps "$STEPS" --json \
    | tail -n 1 > "$WORK/steps.json"

echo "2/3 DDP on $GPUS process(es)" >&2
mkdir -p "$WORK/records"
ddp=ok
OMP_NUM_THREADS=1 "$PYTHON" -m torch.distributed.run --nproc_per_node="$GPUS" --standalone \
    tests/abaw/ddp_train_script.py "$WORK/ddp" "$WORK/records" > "$WORK/ddp.log" 2>&1 || ddp=failed

echo "3/3 resume with the generator state of $DEVICE" >&2
DEVICE=$DEVICE "$PYTHON" - "$WORK/resume" > "$WORK/resume.json" <<'EOF'
import json
import os
import sys
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import TensorDataset

from abaw.runs import create_run, open_run
from abaw.training import TrainConfig, fit

device = os.environ["DEVICE"]


class Task:
    def training_step(self, model, batch):
        x, y = batch
        return nn.functional.mse_loss(model(x), y)

    def validate(self, model):
        return {"score": float(model[0].weight.sum())}


def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 32), nn.Dropout(0.5), nn.Linear(32, 1))  # masks drawn on the device


def train(root, epochs, resume_from=None):
    cfg = TrainConfig(epochs=epochs, lr=0.01, batch_size=8, amp=False, log_every=0, device=device)
    x = torch.randn(64, 8, generator=torch.Generator().manual_seed(1))
    data = TensorDataset(x, x.sum(dim=1, keepdim=True))
    run = open_run(resume_from) if resume_from else create_run(root, "resume", "check", cfg)
    net = model()
    fit(net, Task(), data, cfg, run, kind="mlp", arch={"width": 32}, resume=resume_from is not None)
    last = torch.load(run.last_checkpoint, weights_only=True)
    return run.dir, last["model"], last["rng"][0]["cuda"]


root = Path(sys.argv[1])
_, straight, _ = train(root / "straight", 2)
run_dir, _, saved = train(root / "interrupted", 1)
_, resumed, _ = train(root / "interrupted", 2, resume_from=run_dir)
same = all(torch.equal(straight[k], resumed[k]) for k in straight)
print(json.dumps({"same_weights": same, "cuda_states_saved": len(saved)}))
EOF

"$PYTHON" - "$WORK" "$DEVICE" "$GPUS" "$ddp" <<'EOF'
import json
import sys
from pathlib import Path

work, device, gpus, ddp = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
steps = json.loads((work / "steps.json").read_text())
arch = next(name for name in steps if name != "machine")
rows = [(f"{arch} {name}", f"{r['steps_per_s']:.2f} steps/s",
         f"{r['ratio']:.2f}x today, {r['of_matmul']:.1%} of fp32 matmul") for name, r in steps[arch].items()]
if ddp == "ok":
    ranks = [json.loads((work / "records" / f"rank{r}.json").read_text()) for r in range(gpus)]
    equal = all(r["weight"] == ranks[0]["weight"] for r in ranks)
    writers = [r for r in range(gpus) if ranks[r]["writes"]]
    seen = [set(ranks[r]["seen"]["1"]) for r in range(gpus)]
    split = all(not (a & b) for i, a in enumerate(seen) for b in seen[i + 1:])
    verdict = "ok" if equal and writers == [0] and split else "FAILED"
    rows.append((f"DDP {'NCCL' if device == 'cuda' else 'gloo'} x{gpus}", verdict,
                 f"equal weights {equal}, disjoint shards {split}, writers {writers}"))
else:
    tail = (work / "ddp.log").read_text().strip().splitlines()[-1:]
    rows.append((f"DDP x{gpus}", "FAILED", tail[0][:80] if tail else "no output"))
resume = json.loads((work / "resume.json").read_text())
rows.append((f"resume on {device}", "ok" if resume["same_weights"] else "FAILED",
             f"{resume['cuda_states_saved']} CUDA generator state(s) in last.pt"))
width = [max(len(r[i]) for r in rows) for i in range(3)]
print(f"{'check':<{width[0]}}  {'result':<{width[1]}}  detail")
for row in rows:
    print(f"{row[0]:<{width[0]}}  {row[1]:<{width[1]}}  {row[2]}")
print(f"gpu_check: {sum(r[1] == 'FAILED' for r in rows)} failed")
EOF
