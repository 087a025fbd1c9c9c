import pandas as pd

from src_fusion_model.main import main


def test_search_runs_a_trial_and_resumes(fusion, capsys):
    space = fusion.parent / "space.toml"
    space.write_text('model.experts = [["face<-behaviour"]]\nmodel.gate = [false]\n')
    out = fusion.parent / "search"
    args = ["search", "--config", str(fusion), "--space", str(space), "--out", str(out),
            "--set", "train.epochs=1"]
    assert main(args) == 0
    table = pd.read_csv(out / "search.csv")
    assert len(table) == 1 and table["val_score"].notna().all()
    assert main(args) == 0  # a finished trial is skipped, not trained again
    assert len(pd.read_csv(out / "search.csv")) == 1
    runs = [p for p in (fusion.parent / "out" / "src_fusion_model").iterdir() if p.name.startswith("fusion-")]
    assert (out / "best.toml").is_file() and len(runs) == 1
