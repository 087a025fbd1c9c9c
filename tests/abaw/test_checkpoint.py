import dataclasses
from pathlib import Path

import pytest
import torch
from torch import nn

from abaw.checkpoint import FORMAT, load_checkpoint, load_weights, save_checkpoint
from abaw.errors import AbawError


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    hidden: int = 8
    layers: int = 2
    sizes: tuple[int, ...] = (1, 2)
    weights: Path = Path("/models/w")


class Payload:
    """Anything that is not a tensor or a plain value: loading it would need arbitrary unpickling."""


class Unsaveable:
    def __reduce__(self):
        raise TypeError("cannot be saved")


def test_round_trip_keeps_weights_tags_and_extra(tmp_path):
    model = nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters())
    extra = {"epoch": 4, "metrics": {"score": 0.5}, "optimizer": optimizer.state_dict()}
    path = save_checkpoint(tmp_path / "c" / "best.pt", model.state_dict(), kind="linear", arch=ModelConfig(),
                           extra=extra)
    ckpt = load_checkpoint(path, kind="linear", arch=ModelConfig())
    assert ckpt["format"] == FORMAT and ckpt["epoch"] == 4 and ckpt["metrics"] == {"score": 0.5}
    assert ckpt["arch"] == {"hidden": 8, "layers": 2, "sizes": [1, 2], "weights": "/models/w"}
    fresh = nn.Linear(3, 2)
    load_weights(fresh, path, kind="linear")
    assert torch.equal(fresh.weight, model.weight)
    assert [p.name for p in path.parent.iterdir()] == ["best.pt"]


def test_other_kind_or_architecture_is_named(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", {}, kind="face_transformer", arch=ModelConfig())
    with pytest.raises(AbawError, match="holds a 'face_transformer' model, expected 'mamba'"):
        load_checkpoint(path, kind="mamba")
    with pytest.raises(AbawError, match=r"hidden: 8 in checkpoint, 16 in config; layers: 2 in checkpoint, 3"):
        load_checkpoint(path, kind="face_transformer", arch=ModelConfig(hidden=16, layers=3))
    with pytest.raises(AbawError, match=r"dropout: '<absent>' in checkpoint, 0.1 in config"):
        load_checkpoint(path, arch={**dataclasses.asdict(ModelConfig()), "dropout": 0.1})


def test_weights_that_do_not_fit_are_a_user_error(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", nn.Linear(3, 2).state_dict(), kind="linear")
    with pytest.raises(AbawError, match="weights do not fit the model"):
        load_weights(nn.Linear(4, 2), path, kind="linear")


def test_loading_is_weights_only(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "kind": "linear", "arch": {}, "model": {}, "extra": Payload()}, path)
    with pytest.raises(AbawError, match="refused to load.*Payload"):
        load_checkpoint(path)


def test_foreign_missing_and_corrupt_files_are_user_errors(tmp_path):
    plain = tmp_path / "plain.pt"
    torch.save(nn.Linear(2, 2).state_dict(), plain)
    short = r"^.*\.pt: not a checkpoint written by this toolkit \(truncated or another format\)$"
    with pytest.raises(AbawError, match=short):
        load_checkpoint(plain)
    with pytest.raises(AbawError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")
    ours = save_checkpoint(tmp_path / "ours.pt", nn.Linear(20, 20).state_dict(), kind="linear").read_bytes()
    corrupt = tmp_path / "corrupt.pt"
    for data in (ours[:100], ours[: len(ours) // 2], b"", b"some text\n" * 9):
        corrupt.write_bytes(data)
        with pytest.raises(AbawError, match=short):
            load_checkpoint(corrupt)


def test_failed_save_leaves_nothing(tmp_path):
    with pytest.raises(TypeError, match="cannot be saved"):
        save_checkpoint(tmp_path / "x.pt", {}, kind="k", extra={"f": Unsaveable()})
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="reserved"):
        save_checkpoint(tmp_path / "x.pt", {}, kind="k", extra={"model": 1})
