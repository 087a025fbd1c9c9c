"""Data-parallel helpers: a plain single process unless launched by `torchrun`, then one process per rank.

Every helper works in both cases, so calling code never branches on whether it is distributed.
"""

from __future__ import annotations

import atexit
import os
from datetime import timedelta
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Dataset, DistributedSampler

from abaw.errors import AbawError

# Rank 0 validates while the other ranks wait in a collective; the default 10 min (NCCL) would cut a long
# validation short.
COLLECTIVE_TIMEOUT = timedelta(hours=1)


def launched_by_torchrun() -> bool:
    """True when the environment of `torchrun` (RANK, WORLD_SIZE, LOCAL_RANK) is set."""
    return all(key in os.environ for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))


def init_distributed(device: str = "auto") -> None:
    """Join the process group when launched by torchrun; otherwise do nothing.

    `device` is the training device as configured (`train.device`): NCCL when it resolves to CUDA, with
    each rank on the GPU `cuda:<LOCAL_RANK>`, else gloo (so `device = "cpu"` trains on a CUDA machine
    too). Safe to call more than once; the first call chooses the backend.
    """
    if not launched_by_torchrun() or is_distributed():
        return
    if torch.device("cuda" if device == "auto" else device).type == "cuda" and torch.cuda.is_available():
        gpus = torch.cuda.device_count()
        if local_rank() >= gpus:
            raise AbawError(f"this process is local rank {local_rank()} but only {gpus} GPU(s) are "
                            f"visible: start at most {gpus} process(es) per machine (torchrun "
                            f"--nproc_per_node={gpus}) or train on the CPU (--set train.device=cpu)")
        torch.cuda.set_device(local_rank())
        backend = "nccl"
    else:
        backend = "gloo"
    dist.init_process_group(backend, timeout=COLLECTIVE_TIMEOUT)
    atexit.register(shutdown_distributed)


def shutdown_distributed() -> None:
    if is_distributed():
        dist.destroy_process_group()


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", 0))


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """True on the one process that writes files (rank 0)."""
    return rank() == 0


def default_device(name: str = "auto") -> torch.device:
    """`auto` is this rank's GPU when CUDA is available, else the CPU; any other name is used as given."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank() if is_distributed() else torch.cuda.current_device())
    return torch.device("cpu")


def barrier() -> None:
    if not is_distributed():
        return
    if dist.get_backend() == "nccl":
        dist.barrier(device_ids=[local_rank()])
    else:
        dist.barrier()


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank `src`'s `obj` on every rank (picklable objects; the transfer stays between our own processes)."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def gather_objects(obj: Any) -> list[Any]:
    """Every rank's `obj`, indexed by rank, on every rank."""
    if not is_distributed():
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def all_gather_arrays(array: np.ndarray) -> list[np.ndarray]:
    """Every rank's array (lengths may differ along axis 0), indexed by rank, on every rank.

    With a `DistributedSampler`, rank r holds the samples `indices[r::world]`; gather the sample indices
    alongside the predictions to put them back in dataset order.
    """
    return [np.asarray(a) for a in gather_objects(np.ascontiguousarray(array))]


def all_reduce_mean(value: float) -> float:
    """The mean of a scalar over ranks."""
    if not is_distributed():
        return float(value)
    device = torch.device("cuda", local_rank()) if dist.get_backend() == "nccl" else torch.device("cpu")
    tensor = torch.tensor([float(value)], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.item() / world_size()


def make_sampler(dataset: Dataset, shuffle: bool = True, seed: int = 0, drop_last: bool = False
                 ) -> DistributedSampler:
    """This rank's share of `dataset` (all of it in a single process), reshuffled by `set_epoch(epoch)`.

    Used in a single process too: the order then depends only on (seed, epoch), so a resumed run
    replays the same batches as an uninterrupted one.
    """
    return DistributedSampler(dataset, num_replicas=world_size(), rank=rank(), shuffle=shuffle, seed=seed,
                              drop_last=drop_last)
