"""Session fixtures shared by every test folder: the tiny synthetic dataset, generated once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from abaw.synth.generator import generate


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `longest` first: `make test` hands whole files to two workers in collection order, and
    a minutes-long file collected last would run alone at the end while the other worker waits."""
    items.sort(key=lambda item: item.get_closest_marker("longest") is None)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "tiny"
    generate(out, "tiny", seed=0, workers=2, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_description(tiny_dataset) -> dict:
    return json.loads((tiny_dataset / "dataset.json").read_text())
