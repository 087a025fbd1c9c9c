import dataclasses

import pandas as pd
import pytest

from abaw.config import read_toml
from abaw.errors import AbawError
from abaw.search import Space, plan, read_space, run_search, trial_id


@dataclasses.dataclass(frozen=True)
class Train:
    lr: float = 0.1
    kind: str = "a"


@dataclasses.dataclass(frozen=True)
class Cfg:
    train: Train = Train()


def load(overrides):
    values = dict(item.split("=", 1) for item in overrides)
    return Cfg(Train(float(values.get("train.lr", 0.1)), values.get("train.kind", '"a"').strip('"')))


class Stop(Exception):
    pass


def trainer(calls, stop_after=None):
    def train(overrides):
        if stop_after is not None and len(calls) == stop_after:
            raise Stop  # the process is killed while this trial runs
        calls.append(overrides)
        cfg = load(overrides)
        return {"score": -abs(cfg.train.lr - 0.01) + (cfg.train.kind == "b"), "epochs": 3}

    return train


def write_space(tmp_path, text):
    path = tmp_path / "space.toml"
    path.write_text(text)
    return read_space(path)


def test_grid_runs_every_combination_last_key_fastest(tmp_path):
    space = write_space(tmp_path, '"train.lr" = [0.1, 0.01]\n[train]\nkind = ["a", "b"]\n')
    assert [list(p.values()) for p in plan(space)] == [[0.1, "a"], [0.1, "b"], [0.01, "a"], [0.01, "b"]]


def test_random_search_draws_distinct_trials_reproducibly():
    space = Space(("a", "b"), (tuple(range(10)), tuple(range(10))), trials=7, seed=3)
    trials = [trial_id(p) for p in plan(space)]
    assert len(set(trials)) == 7 and trials == [trial_id(p) for p in plan(space)]
    assert trials != [trial_id(p) for p in plan(dataclasses.replace(space, seed=4))]
    assert len(plan(dataclasses.replace(space, trials=500))) == 100  # never more than the grid


def test_a_killed_search_resumes_with_the_next_unfinished_trial(tmp_path):
    space = write_space(tmp_path, 'train.lr = [0.1, 0.01]\ntrain.kind = ["a", "b"]\n')
    calls = []
    with pytest.raises(Stop):
        run_search(
            space, tmp_path / "out", trainer(calls, stop_after=2), load, metric="score", columns=("epochs",)
        )
    rows = pd.read_csv(tmp_path / "out" / "search.csv")
    assert len(rows) == 2 and list(rows["trial"]) == [1, 2]
    more = []
    result = run_search(space, tmp_path / "out", trainer(more), load, metric="score", columns=("epochs",))
    assert more == [["train.lr=0.01", 'train.kind="a"'], ["train.lr=0.01", 'train.kind="b"']]
    rows = pd.read_csv(tmp_path / "out" / "search.csv")
    assert list(rows["trial"]) == [1, 2, 3, 4] and list(rows["epochs"]) == [3] * 4
    assert result["best_trial"] == 4 and result["best_params"] == {"train.lr": 0.01, "train.kind": "b"}
    assert read_toml(tmp_path / "out" / "best.toml") == {"train": {"lr": 0.01, "kind": "b"}}
    again = []
    run_search(space, tmp_path / "out", trainer(again), load, metric="score")
    assert again == []  # nothing left to run


def test_failed_trials_are_recorded_and_bad_spaces_refused(tmp_path):
    space = write_space(tmp_path, "train.lr = [0.1, 0.01]\n")

    def failing(overrides):
        if "0.1" in overrides[0]:
            raise AbawError("diverged")
        return {"score": 1.0}

    result = run_search(space, tmp_path / "out", failing, load, metric="score")
    rows = pd.read_csv(tmp_path / "out" / "search.csv", keep_default_na=False)
    assert rows["error"].tolist() == ["diverged", ""] and result["best_params"] == {"train.lr": 0.01}
    with pytest.raises(AbawError, match="non-empty list"):
        write_space(tmp_path, "train.lr = 0.1\n")
    with pytest.raises(AbawError, match="trials"):
        write_space(tmp_path, "trials = -1\ntrain.lr = [0.1]\n")

    def strict(overrides):
        raise AbawError("unknown key")

    with pytest.raises(AbawError, match="unknown key"):  # every trial's config is checked before any run
        run_search(space, tmp_path / "other", failing, strict, metric="score")
    assert not (tmp_path / "other" / "search.csv").exists()
