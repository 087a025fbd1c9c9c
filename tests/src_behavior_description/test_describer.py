"""The describer on the tiny Qwen3-VL: greedy tokens equal `generate`, one prefill per batch, pooled
vectors over the right token sets, batched equal to one clip at a time, clear errors."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch

from abaw.errors import AbawError
from src_behavior_description.describer import Clip, Describer, DescriberConfig, ensure_tiny, pool
from src_behavior_description.tiny_models import build_tiny_bert

MAX_NEW = 6


def make_clip(t: int, h: int, w: int, seed: int) -> Clip:
    pixels = np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)
    return Clip(frames=pixels, times=10.0 + np.arange(t) / 4.0)


@pytest.fixture(scope="module")
def cfg(tmp_path_factory) -> DescriberConfig:
    root = tmp_path_factory.mktemp("describer")
    return DescriberConfig(kind="tiny", path=root / "qwen", batch_size=3, max_new_tokens=MAX_NEW,
                           text_encoder_path=root / "bert", text_encoder_kind="tiny", seed=1,
                           dtype="float32")  # batched = single clip holds in float32, on a GPU too


@pytest.fixture(scope="module")
def describer(cfg) -> Describer:
    return Describer.load(cfg)


@pytest.fixture(scope="module")
def clips() -> list[Clip]:
    # Different lengths and sizes, so the batch is left-padded.
    return [make_clip(4, 64, 64, 0), make_clip(6, 64, 96, 1), make_clip(4, 32, 64, 2)]


@pytest.fixture(scope="module")
def batched(describer, clips):
    return describer.describe(clips)


@pytest.fixture(scope="module")
def singles(describer, clips):
    return [describer.describe([clip])[0] for clip in clips]


def generate_tokens(d: Describer, clips: list[Clip], max_new: int = MAX_NEW, eos=None) -> list[list[int]]:
    t = d.batch_inputs(clips)
    out = d.model.generate(input_ids=t["input_ids"], attention_mask=t["attention_mask"],
                           pixel_values_videos=t["pixel_values_videos"], video_grid_thw=t["video_grid_thw"],
                           mm_token_type_ids=t["mm_token_type_ids"], max_new_tokens=max_new, do_sample=False,
                           eos_token_id=eos if eos is not None else d.stop_ids, pad_token_id=d.pad_id)
    rows = out[:, t["input_ids"].shape[1]:].tolist()
    stops = set(eos if eos is not None else d.stop_ids)
    # Cut each row after its first stop token, as the describer does.
    return [row[:next((i + 1 for i, x in enumerate(row) if x in stops), len(row))] for row in rows]


def describer_tokens(d: Describer, descriptions) -> list[list[int]]:
    return [d.tokenizer(x.text, add_special_tokens=False)["input_ids"] for x in descriptions]


def test_tokens_equal_generate_batched_and_single(describer, clips, batched, singles):
    expected = generate_tokens(describer, clips)
    for desc, row in zip(batched, expected, strict=True):
        assert desc.generated_tokens == len(row)
        assert desc.text == describer.tokenizer.decode(row, skip_special_tokens=True).strip()
    for clip, single in zip(clips, singles, strict=True):
        row = generate_tokens(describer, [clip])[0]
        assert single.generated_tokens == len(row)
        assert single.text == describer.tokenizer.decode(row, skip_special_tokens=True).strip()


def test_decoding_stops_at_a_stop_token(describer, clips):
    # A random model rarely ends its turn: make a token it emits mid-way a stop token, then compare.
    free = generate_tokens(describer, clips[:1], eos=[-1])[0]
    stop = free[3]
    saved = describer.stop_ids
    describer.stop_ids = [stop]
    try:
        desc = describer.describe(clips[:1])[0]
    finally:
        describer.stop_ids = saved
    expected = generate_tokens(describer, clips[:1], eos=[stop])[0]
    assert expected[-1] == stop and len(expected) <= 4
    assert desc.generated_tokens == len(expected)


def test_one_prefill_per_batch_then_one_call_per_step(describer, clips):
    lengths = []
    hook = describer.model.model.language_model.register_forward_pre_hook(
        lambda m, a, kw: lengths.append(kw["inputs_embeds"].shape[1]), with_kwargs=True)
    vision = []
    vhook = describer.model.model.visual.register_forward_pre_hook(lambda m, a: vision.append(1))
    try:
        before = describer.forward_calls
        out = describer.describe(clips + clips[:1])           # batch_size 3: two batches
    finally:
        hook.remove()
        vhook.remove()
    prefills = [n for n in lengths if n > 1]
    assert len(prefills) == 2 and len(vision) == 2
    steps = max(d.generated_tokens for d in out[:3]) + max(d.generated_tokens for d in out[3:])
    assert describer.forward_calls - before == len(lengths) == 2 + steps
    assert all(n == 1 for n in lengths if n <= 1)


def test_batched_vectors_equal_single_clip_vectors(describer, batched, singles):
    assert set(batched[0].vectors) == set(describer.vector_names)
    for desc, single in zip(batched, singles, strict=True):
        assert single.text == desc.text
        for name, vec in desc.vectors.items():
            assert vec.dtype == np.float32 and np.isfinite(vec).all()
            np.testing.assert_allclose(vec, single.vectors[name], atol=2e-5, rtol=1e-4, err_msg=name)


def test_vector_widths_and_sentence_vectors(describer, batched):
    out = batched
    assert len(describer.vector_names) == 13 and describer.vector_names[-1] == "sent"
    for name in describer.vector_names[:-1]:
        assert out[0].vectors[name].shape == (describer.width,)
    sent = out[0].vectors["sent"]
    assert sent.shape == (describer.text_encoder.config.hidden_size,)
    assert np.isclose(np.linalg.norm(sent), 1.0, atol=1e-5)
    assert np.allclose(describer.embed_texts([out[0].text])[0], sent, atol=1e-6)


def test_visual_set_is_exactly_the_video_tokens(describer, clips, batched):
    for clip, desc in zip(clips, batched, strict=True):
        t, h, w = clip.frames.shape[:3]
        assert desc.video_tokens == (t // 2) * (h // 32) * (w // 32)
    t = describer.batch_inputs(clips)
    assert torch.equal(t["visual_mask"], t["input_ids"] == describer.model.config.video_token_id)
    assert torch.equal(t["visual_mask"].sum(1), torch.tensor([d.video_tokens for d in batched],
                                                                device=t["visual_mask"].device))
    # The prompt set is the instruction's tokens, nothing else.
    ids = t["input_ids"][0][t["prompt_mask"][0]].tolist()
    assert describer.tokenizer.decode(ids) == describer.cfg.instruction


def test_prompt_vectors_differ_only_through_the_video(describer):
    a, b = make_clip(4, 64, 64, 10), make_clip(4, 64, 64, 11)
    a_again = Clip(frames=a.frames.copy(), times=a.times + 30.0)    # same video later in time
    da, db, da2 = describer.describe([a, b, a_again])
    t = describer.batch_inputs([a, b])
    assert torch.equal(t["input_ids"][0][t["prompt_mask"][0]], t["input_ids"][1][t["prompt_mask"][1]])
    for stat in ("mean", "std", "last"):
        np.testing.assert_allclose(da.vectors[f"prompt_{stat}"], da2.vectors[f"prompt_{stat}"], atol=1e-5)
        assert not np.allclose(da.vectors[f"prompt_{stat}"], db.vectors[f"prompt_{stat}"], atol=1e-4)
    for name in ("mm_mean", "mm_std", "visual_mean", "desc_mean", "desc_last"):
        assert not np.allclose(da.vectors[name], db.vectors[name], atol=1e-4), name


def test_pool_matches_numpy_two_pass_statistics():
    rng = np.random.default_rng(0)
    hidden = rng.normal(1000.0, 1e-2, (2, 7, 5)).astype(np.float32)    # large mean, small spread
    mask = np.array([[0, 0, 1, 1, 0, 1, 0], [1, 1, 1, 1, 1, 1, 1]], dtype=bool)
    got = pool(torch.from_numpy(hidden), torch.from_numpy(mask))
    for r in range(2):
        x = hidden[r][mask[r]].astype(np.float64)
        np.testing.assert_allclose(got["mean"][r].numpy(), x.mean(0), rtol=1e-6)
        np.testing.assert_allclose(got["std"][r].numpy(), x.std(0), rtol=2e-2)
        np.testing.assert_array_equal(got["last"][r].numpy(), hidden[r][np.flatnonzero(mask[r])[-1]])


def test_identity_follows_model_and_instruction(cfg, describer):
    other = Describer.load(dataclasses.replace(cfg, instruction="Describe the clip.", text_encoder_path=None))
    assert other.identity["model"] == describer.identity["model"]
    assert other.identity["instruction"] != describer.identity["instruction"]
    assert other.vector_names == describer.vector_names[:-1]


def test_load_errors_name_the_folder(tmp_path, cfg):
    missing = DescriberConfig(kind="qwen3vl", path=tmp_path / "nowhere")
    with pytest.raises(AbawError, match="does not exist"):
        Describer.load(missing)
    bert = build_tiny_bert(tmp_path / "bert")
    with pytest.raises(AbawError, match="not a Qwen3-VL checkpoint.*'bert'"):
        Describer.load(DescriberConfig(kind="qwen3vl", path=bert))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(AbawError, match="config.json is missing"):
        Describer.load(DescriberConfig(kind="qwen3vl", path=empty))
    # A Qwen3-VL folder whose tokenizer lacks <|video_pad|>.
    broken = tmp_path / "broken"
    shutil.copytree(ensure_tiny(cfg), broken)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(bert / name, broken / name)
    with pytest.raises(AbawError, match=r"no <\|video_pad\|> token"):
        Describer.load(DescriberConfig(kind="qwen3vl", path=broken))
    assert json.loads((broken / "config.json").read_text())["model_type"] == "qwen3_vl"
