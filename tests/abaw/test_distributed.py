import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from abaw import distributed
from abaw.errors import AbawError

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("ddp_train_script.py")


def test_single_process_helpers_are_identity():
    assert not distributed.is_distributed()
    assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)
    distributed.barrier()
    assert distributed.broadcast_object({"a": 1}) == {"a": 1}
    assert distributed.gather_objects(3) == [3]
    assert distributed.all_reduce_mean(2.5) == 2.5
    array = np.arange(6, dtype=np.float32).reshape(3, 2)
    (gathered,) = distributed.all_gather_arrays(array)
    np.testing.assert_array_equal(gathered, array)
    if not torch.cuda.is_available():
        assert distributed.default_device() == torch.device("cpu")
    assert distributed.default_device("cpu") == torch.device("cpu")


def test_launch_detection_reads_torchrun_environment(monkeypatch):
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    assert not distributed.launched_by_torchrun()
    distributed.init_distributed()  # nothing to join outside torchrun
    assert not distributed.is_distributed()
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert not distributed.launched_by_torchrun()
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert distributed.launched_by_torchrun()
    assert distributed.local_rank() == 1


def test_backend_follows_the_training_device_on_a_cuda_machine(monkeypatch):
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.setenv(key, "0" if key != "WORLD_SIZE" else "1")
    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_device", lambda index: calls.append(("set_device", index)))
    monkeypatch.setattr(distributed.dist, "init_process_group", lambda backend, **_: calls.append(backend))
    monkeypatch.setattr(distributed.atexit, "register", lambda _: None)
    expected = {"cpu": ["gloo"], "auto": [("set_device", 0), "nccl"], "cuda:0": [("set_device", 0), "nccl"]}
    for device, joined in expected.items():
        calls.clear()
        distributed.init_distributed(device)
        assert calls == joined, device


def test_more_ranks_than_gpus_is_one_clear_error(monkeypatch):
    for key, value in {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_device", lambda index: pytest.fail(f"set_device({index})"))
    joined = []
    monkeypatch.setattr(distributed.dist, "init_process_group", lambda backend, **_: joined.append(backend))
    monkeypatch.setattr(distributed.atexit, "register", lambda _: None)
    with pytest.raises(AbawError, match=r"local rank 1 but only 1 GPU\(s\) are visible.*--nproc_per_node=1"):
        distributed.init_distributed("auto")
    assert joined == []
    distributed.init_distributed("cpu")  # the CPU needs no GPU per rank
    assert joined == ["gloo"]


def test_sampler_covers_the_data_and_reshuffles_per_epoch():
    data = TensorDataset(torch.arange(20))
    sampler = distributed.make_sampler(data, shuffle=True, seed=3)
    sampler.set_epoch(1)
    first = list(sampler)
    assert sorted(first) == list(range(20))
    assert first == list(sampler)  # same epoch, same order: a resumed run replays it
    sampler.set_epoch(2)
    assert list(sampler) != first


def test_torchrun_two_ranks_split_the_data_and_only_rank0_writes(tmp_path):
    out, records = tmp_path / "out", tmp_path / "records"
    records.mkdir()
    # Two CPU ranks over gloo whatever GPUs this machine has (bench/gpu_check.sh checks NCCL).
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
           "CUDA_VISIBLE_DEVICES": ""}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
           str(SCRIPT), str(out), str(records)]
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rank0, rank1 = (json.loads((records / f"rank{r}.json").read_text()) for r in (0, 1))

    assert set(rank0["seen"]) == set(rank1["seen"]) == {"1", "2", "3"}
    for epoch in rank0["seen"]:
        seen0, seen1 = set(rank0["seen"][epoch]), set(rank1["seen"][epoch])
        assert len(seen0) == len(seen1) == 20
        assert not seen0 & seen1
        assert seen0 | seen1 == set(range(40))
    assert rank0["seen"]["1"] != rank0["seen"]["2"]  # set_epoch reshuffles

    assert (rank0["validations"], rank1["validations"]) == (3, 0)
    assert rank0["summary"] == rank1["summary"]
    assert rank0["weight"] == rank1["weight"]
    assert rank0["gathered"] == rank1["gathered"] == [[[2, 3], 0.0], [[3, 3], 1.0]]

    (run_dir,) = (out / "ddp").iterdir()
    assert rank0["summary"]["run_dir"] == str(run_dir)
    for name in ("log.txt", "metrics.csv", "curves.png", "report.md", "checkpoints/best.pt",
                 "checkpoints/last.pt"):
        assert (run_dir / name).is_file()
        assert str(run_dir / name) in rank0["writes"]
    assert rank1["writes"] == []
    assert not list(run_dir.rglob("*.tmp"))
