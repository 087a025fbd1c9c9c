import numpy as np
import pytest

from abaw.affwild import read_annotation
from abaw.errors import AbawError
from abaw.submission import read_submission, validate_submission
from src_visual_dynamic_model.predict import predict
from src_visual_dynamic_model.trained import load_trained


def test_template_gives_a_valid_submission_in_template_order(trained_mini, tmp_path):
    _, cfg, best = trained_mini
    # A template in another row order: the submission must follow it.
    lines = cfg.data.test_template.read_text().splitlines()
    shuffled = tmp_path / "template.txt"
    shuffled.write_text("\n".join([lines[0]] + lines[1:][::-1]) + "\n")
    model = load_trained(cfg, best)
    out = tmp_path / "sub.txt"
    result = predict(cfg, model, out, template=shuffled)
    assert result["frames"] == 28
    assert validate_submission(shuffled, out) == []
    straight = tmp_path / "straight.txt"
    predict(cfg, model, straight, template=cfg.data.test_template)
    _, forward = read_submission(straight)
    _, backward = read_submission(out)
    np.testing.assert_allclose(forward, backward[::-1])


def test_labelled_split_prints_the_score(trained_mini, tmp_path):
    _, cfg, best = trained_mini
    result = predict(cfg, load_trained(cfg, best), tmp_path / "val", split="val")
    assert {"score", "ccc_valence", "ccc_arousal"} <= set(result)
    assert read_annotation(tmp_path / "val" / "va_b.txt").shape == (15, 2)


def test_template_naming_a_video_without_features(trained_mini, tmp_path):
    _, cfg, best = trained_mini
    template = tmp_path / "template.txt"
    template.write_text(cfg.data.test_template.read_text() + "te_zz/00001.jpg,0,0\n")
    with pytest.raises(AbawError, match=r"video 'te_zz' \(named by .*template.txt\) is missing"):
        predict(cfg, load_trained(cfg, best), tmp_path / "sub.txt", template=template)
    assert not (tmp_path / "sub.txt").exists()
