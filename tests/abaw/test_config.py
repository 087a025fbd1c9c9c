from dataclasses import dataclass, field
from pathlib import Path

import pytest

from abaw.config import DataConfig, config_sha, config_to_toml, load_config, load_section, read_toml
from abaw.errors import AbawError


@dataclass(frozen=True)
class Model:
    hidden: int = 256
    dropout: float = 0.1
    kind: str = "transformer"


@dataclass(frozen=True)
class Stage:
    name: str = "run"
    data: DataConfig = field(default_factory=DataConfig)
    model: Model = field(default_factory=Model)
    init: Path | None = None


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cfg" / "stage.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_paths_resolve_against_the_config_folder_not_the_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, '[data]\nannotations = "ann"\nvideos = "/abs/videos"\n')
    cfg = load_config(Stage, path)
    assert cfg.data.annotations == tmp_path / "cfg" / "ann"
    assert cfg.data.videos == Path("/abs/videos")
    assert cfg.data.output_root == tmp_path / "cfg" / "outputs"
    assert cfg.init is None


def test_unknown_key_names_the_valid_ones(tmp_path):
    path = write(tmp_path, "[model]\nhiden = 3\n")
    with pytest.raises(AbawError, match=r"\[model\]: unknown key\(s\) hiden; valid keys are: hidden, drop"):
        load_config(Stage, path)


def test_wrong_type_names_the_key(tmp_path):
    path = write(tmp_path, '[model]\nhidden = "big"\n')
    with pytest.raises(AbawError, match="model.hidden: expected int"):
        load_config(Stage, path)


def test_overrides_parse_toml_values_and_fall_back_to_strings(tmp_path):
    path = write(tmp_path, "[model]\nhidden = 8\n")
    cfg = load_config(Stage, path, ["model.hidden=16", "model.dropout=0", "model.kind=mamba", "name=x"])
    assert (cfg.model.hidden, cfg.model.dropout, cfg.model.kind, cfg.name) == (16, 0.0, "mamba", "x")
    with pytest.raises(AbawError, match="expected section.key=value"):
        load_config(Stage, path, ["model.hidden"])


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(Stage, write(tmp_path, "[model]\nhidden = 32\n"))
    saved = write(tmp_path, config_to_toml(cfg))
    assert load_config(Stage, saved) == cfg
    assert config_sha(load_config(Stage, saved)) == config_sha(cfg)
    assert config_sha(load_config(Stage, saved, ["model.hidden=64"])) != config_sha(cfg)


def test_load_section_ignores_other_sections(tmp_path):
    path = write(tmp_path, '[data]\nannotations = "a"\n[other]\nanything = 1\n')
    assert load_section(DataConfig, path, "data").annotations == tmp_path / "cfg" / "a"
    with pytest.raises(AbawError, match=r"no \[model\] section"):
        load_section(Model, path, "model")


def test_bad_toml_and_missing_file_are_clear_errors(tmp_path):
    with pytest.raises(AbawError, match="invalid TOML"):
        read_toml(write(tmp_path, "[model\n"))
    with pytest.raises(AbawError, match="config file not found"):
        read_toml(tmp_path / "nope.toml")


def test_misspelt_override_names_the_key_and_the_valid_ones(tmp_path):
    path = write(tmp_path, "[model]\nhidden = 8\n")
    with pytest.raises(AbawError, match=r"^--set model.hiden=2: unknown key hiden in \[model\]; "
                                        r"valid keys: hidden, dropout, kind$"):
        load_config(Stage, path, ["model.hiden=2"])
    with pytest.raises(AbawError, match=r"unknown key modle in the config's top level; valid keys: name, "):
        load_config(Stage, path, ["modle.hidden=2"])
    with pytest.raises(AbawError, match=r"--set model.hidden.x=2: model.hidden is a value, not a section"):
        load_config(Stage, path, ["model.hidden.x=2"])


def test_override_paths_resolve_against_the_working_directory(tmp_path, monkeypatch):
    path = write(tmp_path, '[data]\nannotations = "ann"\n')
    monkeypatch.chdir(tmp_path)
    cfg = load_config(Stage, path, ["data.output_root=out", "init=weights/x.pt", "data.videos=~/v"])
    assert cfg.data.output_root == tmp_path / "out" and cfg.init == tmp_path / "weights" / "x.pt"
    assert cfg.data.videos == Path("~/v").expanduser()
    assert cfg.data.annotations == tmp_path / "cfg" / "ann"  # written in the TOML: its folder


def test_section_overrides_only_take_that_section(tmp_path, monkeypatch):
    path = write(tmp_path, "[data]\n")
    monkeypatch.chdir(tmp_path)
    assert load_section(DataConfig, path, "data", ["data.videos=v"]).videos == tmp_path / "v"
    with pytest.raises(AbawError, match=r"unknown key model in the config's top level; valid keys: data"):
        load_section(DataConfig, path, "data", ["model.hidden=3"])
