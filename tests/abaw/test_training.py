import dataclasses
import math
from collections import namedtuple

import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import Dataset, TensorDataset

from abaw.checkpoint import load_checkpoint, load_weights
from abaw.config import load_config
from abaw.errors import AbawError
from abaw.report import read_metrics
from abaw.runs import create_run, open_run, setup_logging
from abaw.training import EMA, TrainConfig, ema_weights, fit, to_device

FAST = TrainConfig(epochs=3, lr=0.2, batch_size=16, early_stop_patience=0, log_every=0)


@dataclasses.dataclass(frozen=True)
class StageConfig:
    name: str = "tiny"
    train: TrainConfig = TrainConfig()


def regression_data(n: int, seed: int) -> TensorDataset:
    x = torch.randn(n, 4, generator=torch.Generator().manual_seed(seed))
    return TensorDataset(x, x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1)


class RegressionTask:
    """Fit y = x·w + b; validation reports -MSE as `score`, unless fixed scores are given."""

    def __init__(self, scores: list[float] | None = None, loss_scale: float = 1.0) -> None:
        self.val_x, self.val_y = regression_data(32, seed=1).tensors
        self.scores = iter(scores) if scores is not None else None
        self.loss_scale = loss_scale
        self.steps = 0

    def training_step(self, model: nn.Module, batch: list[torch.Tensor]) -> torch.Tensor:
        x, y = batch
        self.steps += 1
        return F.mse_loss(model(x), y) * self.loss_scale

    def validate(self, model: nn.Module) -> dict[str, float]:
        device = next(model.parameters()).device  # the training device: the GPU where there is one
        mse = F.mse_loss(model(self.val_x.to(device)), self.val_y.to(device)).item()
        return {"score": next(self.scores) if self.scores else -mse, "mse": mse}


def linear(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Linear(4, 1)


@pytest.fixture(autouse=True)
def _close_log_files():
    yield
    setup_logging(None)


def train(tmp_path, cfg=FAST, task=None, model=None, **kwargs):
    task = task or RegressionTask()
    model = model or linear()
    run = kwargs.pop("run", None) or create_run(tmp_path, "test", "run", StageConfig(train=cfg))
    data = kwargs.pop("data", None) or regression_data(64, seed=0)
    summary = fit(model, task, data, cfg, run, kind="linear", arch={"in": 4}, **kwargs)
    return summary, task, model, run


def test_training_reduces_loss_and_fills_the_run_directory(tmp_path):
    task = RegressionTask()
    start = task.validate(linear())["score"]
    summary, task, model, run = train(tmp_path, dataclasses.replace(FAST, epochs=4), task=task)
    table = read_metrics(run.metrics_path)
    assert table["epoch"].tolist() == [1, 2, 3, 4]
    assert list(table.columns) == ["epoch", "train_loss", "lr", "val_score", "val_mse", "time_s"]
    assert table["train_loss"].iloc[-1] < 0.5 * table["train_loss"].iloc[0]
    assert summary["best_score"] > 0.5 * start  # scores are -MSE
    assert summary["epochs_run"] == 4 and task.steps == 4 * 4
    assert summary["best_metrics"]["score"] == summary["best_score"]
    assert task.validate(model)["score"] == summary["best_score"]  # the model ends on the best weights
    for key in ("best_checkpoint", "last_checkpoint", "metrics_csv", "curves_png", "report"):
        assert (run.dir / summary[key]).is_file()
    assert "| best epoch | 4 |" in run.report_path.read_text()


def test_early_stopping_stops_and_stays_stopped(tmp_path):
    cfg = dataclasses.replace(FAST, epochs=10, early_stop_patience=2)
    summary, task, model, run = train(tmp_path, cfg, task=RegressionTask(scores=[0.5] * 10))
    assert summary["stopped_early"] and summary["epochs_run"] == 3 and summary["best_epoch"] == 1
    assert task.steps == 3 * 4
    again = RegressionTask(scores=[0.5] * 10)
    fit(model, again, regression_data(64, 0), cfg, run, kind="linear", arch={"in": 4}, resume=True)
    assert again.steps == 0


def test_plateau_scheduler_reduces_lr(tmp_path):
    cfg = dataclasses.replace(FAST, epochs=5, lr=0.1, plateau_patience=1, plateau_factor=0.5)
    _, _, _, run = train(tmp_path, cfg, task=RegressionTask(scores=[0.5] * 5))
    # The rate each epoch trained with: halved after the third epoch's result, again after the fifth's.
    assert read_metrics(run.metrics_path)["lr"].tolist() == [0.1, 0.1, 0.1, 0.05, 0.05]


def test_parameter_groups_get_their_own_lr(tmp_path):
    model = linear()
    groups = [{"params": [model.weight]}, {"params": [model.bias], "lr": 0.001}]
    _, _, _, run = train(tmp_path, model=model, param_groups=groups)
    table = read_metrics(run.metrics_path)
    assert table["lr"].tolist() == [0.2] * 3 and table["lr_1"].tolist() == [0.001] * 3


def test_ema_weights_are_validated_and_saved_as_best(tmp_path):
    cfg = dataclasses.replace(FAST, ema_decay=0.8)
    summary, task, model, run = train(tmp_path, cfg)
    best, last = load_checkpoint(run.best_checkpoint), load_checkpoint(run.last_checkpoint)
    assert summary["best_epoch"] == 3
    # last.pt resumes training: raw weights plus their average; best.pt holds the average it scored.
    assert not torch.equal(best["model"]["weight"], last["model"]["weight"])
    assert torch.equal(best["model"]["weight"], last["ema"]["shadow"]["weight"])
    fresh = linear(seed=5).to(next(model.parameters()).device)  # scored where training scored it
    load_weights(fresh, run.best_checkpoint, kind="linear", arch={"in": 4})
    assert task.validate(fresh)["score"] == summary["best_score"]
    assert task.validate(model)["score"] == summary["best_score"]


class TiedNet(nn.Module):
    """The output projection shares the input projection's weight, as a language model ties its embedding."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.inp, self.out, self.head = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 1)
        self.out.weight = self.inp.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.out(torch.tanh(self.inp(x)))))


class RecordingTask(RegressionTask):
    """Keeps a copy of the weights each validation saw."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[dict[str, torch.Tensor]] = []

    def validate(self, model: nn.Module) -> dict[str, float]:
        self.seen.append({k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()})
        return super().validate(model)


def test_ema_with_tied_weights_saves_what_was_validated_and_leaves_training_alone(tmp_path):
    cfg = dataclasses.replace(FAST, epochs=4, lr=0.05, ema_decay=0.8)
    summary, task, _, run = train(tmp_path / "ema", cfg, task=RecordingTask(), model=TiedNet())
    best = load_checkpoint(run.best_checkpoint)["model"]
    seen = task.seen[summary["best_epoch"] - 1]
    assert best.keys() == seen.keys() and all(torch.equal(best[k], seen[k]) for k in best)
    # Swapping the averages in and out must give the raw weights back bit for bit, so the raw weights
    # follow exactly the path they follow without EMA.
    _, _, _, plain = train(tmp_path / "plain", dataclasses.replace(cfg, ema_decay=0.0), model=TiedNet())
    raw = load_checkpoint(run.last_checkpoint)["model"]
    reference = load_checkpoint(plain.last_checkpoint)["model"]
    assert all(torch.equal(raw[k], reference[k]) for k in raw)
    assert not torch.equal(best["inp.weight"], raw["inp.weight"])


def test_ema_swap_with_tied_weights_restores_them_exactly():
    model = TiedNet()
    ema = EMA(model, decay=0.5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    ema.update(model)
    raw = {k: v.clone() for k, v in model.state_dict().items()}
    with ema_weights(model, ema):
        for key, value in model.state_dict().items():
            torch.testing.assert_close(value, before[key] + 0.5)
    assert all(torch.equal(v, raw[k]) for k, v in model.state_dict().items())
    assert model.out.weight is model.inp.weight


def test_ema_averages_in_float32_and_skips_frozen_parameters():
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 1)).to(torch.bfloat16)
    model[0].requires_grad_(False)  # a frozen backbone: never averaged, never copied
    with torch.no_grad():
        model[1].weight.fill_(1.0)
    ema = EMA(model, decay=0.998)
    assert set(ema.shadow) == {"1.weight", "1.bias"}
    assert all(v.dtype == torch.float32 for v in ema.shadow.values())
    with torch.no_grad():
        model[1].weight.fill_(2.0)
    for _ in range(10):  # in bfloat16 each step of 0.002 would round away
        ema.update(model)
    expected = torch.full((1, 4), 2.0 - 0.998**10)
    torch.testing.assert_close(ema.shadow["1.weight"], expected, rtol=0, atol=1e-6)
    frozen = model[0].weight.clone()
    with ema_weights(model, ema):
        assert torch.equal(model[1].weight, expected.to(torch.bfloat16))
    assert torch.equal(model[1].weight, torch.full((1, 4), 2.0, dtype=torch.bfloat16))
    assert torch.equal(model[0].weight, frozen)
    torch.testing.assert_close(ema.shadow["1.weight"], expected, rtol=0, atol=1e-6)  # not rounded by the swap


class DropoutNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layers = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class NoisyData(Dataset):
    """The regression data with fresh input noise at every draw, like augmentation (drawn in the workers)."""

    def __init__(self) -> None:
        self.x, self.y = regression_data(64, seed=0).tensors

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i] + 0.1 * torch.randn(4), self.y[i]


@pytest.mark.parametrize("num_workers", [0, 1])
def test_resume_continues_exactly_where_it_stopped(tmp_path, num_workers):
    cfg = dataclasses.replace(FAST, epochs=4, ema_decay=0.5, plateau_patience=0, plateau_factor=0.5,
                              num_workers=num_workers)
    _, _, _, whole = train(tmp_path / "a", cfg, model=DropoutNet(), data=NoisyData())

    _, first, _, part = train(tmp_path / "b", dataclasses.replace(cfg, epochs=2), model=DropoutNet(),
                              data=NoisyData())
    summary, second, _, _ = train(tmp_path, cfg, model=DropoutNet(), run=open_run(part.dir), resume=True,
                                  data=NoisyData())
    assert (first.steps, second.steps) == (2 * 4, 2 * 4)  # completed epochs are not re-run
    assert summary["epochs_run"] == 4

    done, resumed = load_checkpoint(whole.last_checkpoint), load_checkpoint(part.last_checkpoint)
    assert all(torch.equal(done["model"][k], resumed["model"][k]) for k in done["model"])
    for key in ("model", "optimizer", "scheduler", "ema", "progress"):
        assert str(done[key]) == str(resumed[key]), key
    a, b = read_metrics(whole.metrics_path), read_metrics(part.metrics_path)
    assert b["epoch"].tolist() == [1, 2, 3, 4]
    assert a.drop(columns="time_s").equals(b.drop(columns="time_s"))


def test_resuming_with_another_model_is_refused(tmp_path):
    _, _, model, run = train(tmp_path)
    with pytest.raises(AbawError, match="holds a 'linear' model, expected 'mlp'"):
        fit(model, RegressionTask(), regression_data(64, 0), FAST, run, kind="mlp", resume=True)
    with pytest.raises(AbawError, match=r"architecture differs.*in: 4 in checkpoint, 8 in config"):
        fit(model, RegressionTask(), regression_data(64, 0), FAST, run, kind="linear", arch={"in": 8},
            resume=True)


def test_user_mistakes_get_one_clear_message(tmp_path):
    with pytest.raises(AbawError, match="'ccc' is not a validation metric; choose one of: score, mse"):
        train(tmp_path, dataclasses.replace(FAST, monitor="ccc"))
    with pytest.raises(AbawError, match="training diverged"):
        train(tmp_path, task=RegressionTask(loss_scale=math.nan))
    with pytest.raises(AbawError, match="training set is empty"):
        fit(linear(), RegressionTask(), TensorDataset(torch.zeros(0, 4)), FAST,
            create_run(tmp_path, "test", "empty", StageConfig()), kind="linear")


def test_nan_scores_never_make_a_best_checkpoint(tmp_path):
    summary, _, model, run = train(tmp_path, task=RegressionTask(scores=[math.nan] * 3))
    assert summary["best_epoch"] is None and not run.best_checkpoint.exists()
    assert run.last_checkpoint.exists()


def test_train_section_loads_from_a_stage_config(tmp_path):
    path = tmp_path / "stage.toml"
    path.write_text('[train]\nepochs = 2\nlr = 1\nmode = "min"\nmonitor = "loss"\n')
    cfg = load_config(StageConfig, path)
    assert cfg.train == TrainConfig(epochs=2, lr=1.0, mode="min", monitor="loss")
    path.write_text("[train]\nema_decay = 1.5\nepochs = 0\n")
    with pytest.raises(AbawError, match=r"epochs = 0, ema_decay = 1.5"):
        load_config(StageConfig, path)
    path.write_text('[train]\nmode = "maximum"\n')
    with pytest.raises(AbawError, match="train.mode: 'maximum' is not one of 'max', 'min'"):
        load_config(StageConfig, path)


def test_min_mode_selects_the_lowest_value(tmp_path):
    cfg = dataclasses.replace(FAST, epochs=4, monitor="mse", mode="min")
    summary, task, model, _ = train(tmp_path, cfg, task=RegressionTask())
    assert summary["best_epoch"] == 4 and summary["best_score"] == task.validate(model)["mse"]


def test_to_device_moves_nested_tensors_only():
    Pair = namedtuple("Pair", "x meta")
    batch = {"x": torch.ones(2), "items": [torch.zeros(1), "video_a"], "pair": Pair(torch.ones(1), 3)}
    moved = to_device(batch, torch.device("meta"))
    assert moved["x"].is_meta and moved["items"][0].is_meta and moved["items"][1] == "video_a"
    assert isinstance(moved["pair"], Pair) and moved["pair"].x.is_meta and moved["pair"].meta == 3


FAILING_VALIDATION = """
import sys
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import TensorDataset

from abaw.errors import AbawError
from abaw.runs import create_run
from abaw.training import TrainConfig, fit


class Task:
    def training_step(self, model, batch):
        x, y = batch
        return nn.functional.mse_loss(model(x), y)

    def validate(self, model):
        raise AbawError("the validation split is unreadable")


x = torch.randn(16, 4)
cfg = TrainConfig(epochs=2, batch_size=4, log_every=0)
run = create_run(Path(sys.argv[1]), "fail", "tiny", cfg)
fit(nn.Linear(4, 1), Task(), TensorDataset(x, x.sum(dim=1, keepdim=True)), cfg, run, kind="linear")
"""


def test_a_validation_failure_on_rank0_stops_every_rank_without_torchrun(tmp_path):
    import os
    import socket
    import subprocess
    import sys
    from pathlib import Path

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    repo = Path(__file__).resolve().parents[2]
    # What a launcher other than torchrun (a cluster scheduler, a shell loop) provides: the environment.
    # Two CPU ranks over gloo whatever GPUs this machine has (bench/gpu_check.sh checks NCCL).
    env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1", "WORLD_SIZE": "2",
           "CUDA_VISIBLE_DEVICES": "",
           "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    ranks = [subprocess.Popen([sys.executable, "-c", FAILING_VALIDATION, str(tmp_path)], cwd=repo,
                              env={**env, "RANK": str(r), "LOCAL_RANK": str(r)}, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for r in (0, 1)]
    try:
        errors = [p.communicate(timeout=180)[1] for p in ranks]
    finally:
        for p in ranks:
            p.kill()
    assert [p.returncode for p in ranks] != [0, 0] and all(p.returncode != 0 for p in ranks)
    assert "the validation split is unreadable" in errors[0]
    assert "validation failed on rank 0, so rank 1 stops too: the validation split is unreadable" in errors[1]


def test_bfloat16_autocast_runs_on_the_cpu_and_float16_stays_off(tmp_path):
    from abaw.training import Optimization, autocast_dtype

    cpu = torch.device("cpu")
    assert autocast_dtype(True, "bfloat16", cpu) == torch.bfloat16
    assert autocast_dtype(True, "float16", cpu) is None  # CPU float16 autocast needs a scaler it lacks
    assert autocast_dtype(False, "bfloat16", cpu) is None
    assert autocast_dtype(True, "float16", torch.device("cuda")) == torch.float16
    cfg = dataclasses.replace(FAST, amp=True, amp_dtype="bfloat16")
    opt = Optimization(linear(), cfg, None, cpu)
    assert not opt.scaler.is_enabled()
    with opt.autocast():
        assert linear()(torch.randn(2, 4)).dtype == torch.bfloat16
    summary, *_ = train(tmp_path, cfg)
    assert math.isfinite(summary["best_score"])
