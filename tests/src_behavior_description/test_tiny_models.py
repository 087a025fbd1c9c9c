"""Tiny Qwen3-VL and BERT folders load back offline through `from_pretrained` like real checkpoints."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModel, AutoTokenizer, Qwen3VLForConditionalGeneration

from src_behavior_description.tiny_models import QWEN_SPECIAL, build_tiny_bert, build_tiny_qwen3vl


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_tiny_qwen3vl_loads_back_with_qwen_tokens_and_template(tmp_path):
    path = build_tiny_qwen3vl(tmp_path / "qwen", seed=3)
    model = Qwen3VLForConditionalGeneration.from_pretrained(path)
    tok = AutoTokenizer.from_pretrained(path)
    n = sum(p.numel() for p in model.parameters())
    assert 100_000 < n < 1_000_000
    ids = {t: tok.convert_tokens_to_ids(t) for t in QWEN_SPECIAL}
    assert len(set(ids.values())) == len(QWEN_SPECIAL)
    assert model.config.video_token_id == ids["<|video_pad|>"]
    assert model.config.vision_start_token_id == ids["<|vision_start|>"]
    assert tok.pad_token == "<|endoftext|>" and tok.eos_token == "<|im_end|>"
    assert set(model.generation_config.eos_token_id) == {ids["<|im_end|>"], ids["<|endoftext|>"]}
    # Byte-level BPE: any text round-trips, special tokens stay single tokens.
    text = "Ölçü <|video_pad|> çok büyük! 表情 🙂"
    enc = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(enc) == text
    assert enc.count(ids["<|video_pad|>"]) == 1
    chat = tok.apply_chat_template(
        [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "Describe."}]}],
        tokenize=False, add_generation_prompt=True)
    assert chat == ("<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>Describe.<|im_end|>\n"
                    "<|im_start|>assistant\n")
    # The same seed gives the same weights; another seed does not.
    again = Qwen3VLForConditionalGeneration.from_pretrained(build_tiny_qwen3vl(tmp_path / "again", seed=3))
    other = Qwen3VLForConditionalGeneration.from_pretrained(build_tiny_qwen3vl(tmp_path / "other", seed=4))
    w = model.lm_head.weight
    assert torch.equal(w, again.lm_head.weight) and not torch.equal(w, other.lm_head.weight)


def test_tiny_bert_loads_back_and_frames_sentences(tmp_path):
    path = build_tiny_bert(tmp_path / "bert")
    model = AutoModel.from_pretrained(path)
    tok = AutoTokenizer.from_pretrained(path)
    enc = tok(["The person smiles.", "calm"], padding=True, return_tensors="pt")
    first = enc["input_ids"][0].tolist()
    assert first[0] == tok.cls_token_id and first[-1] == tok.sep_token_id
    assert enc["attention_mask"][1].sum() < enc["attention_mask"][0].sum()
    out = model(**enc).last_hidden_state
    assert out.shape[:2] == enc["input_ids"].shape and out.shape[2] == model.config.hidden_size
