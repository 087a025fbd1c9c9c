"""Tiny random-weight models of the real classes, for tests and the demo (no download, ever).

`build_tiny_qwen3vl` writes a folder that looks like a Qwen3-VL checkpoint: a few hundred thousand
parameters of `Qwen3VLForConditionalGeneration`, a byte-level BPE tokenizer trained offline on a few
sentences with the Qwen special tokens and a chat template in the Qwen layout, a generation config
and a video preprocessor config. `build_tiny_bert` does the same for a BERT sentence encoder with a
WordPiece tokenizer. Both are loaded back by the describer through `from_pretrained`, the same code
path as a real checkpoint.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import torch

QWEN_SPECIAL = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                "<|image_pad|>", "<|video_pad|>")

# A chat template with the Qwen3-VL layout: media items become <|vision_start|><|..._pad|><|vision_end|>
# inside the turn, text items are copied, and the generation prompt opens the assistant turn.
QWEN_CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}"
    "{%- else -%}{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'video' -%}{{- '<|vision_start|><|video_pad|><|vision_end|>' -}}"
    "{%- elif item['type'] == 'image' -%}{{- '<|vision_start|><|image_pad|><|vision_end|>' -}}"
    "{%- elif item['type'] == 'text' -%}{{- item['text'] -}}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)

# Training text for the tiny tokenizers: words of the prompt and of plausible descriptions, so the
# BPE merges cover them and sequences stay short.
CORPUS = (
    "You are an expert in affective behaviour analysis. Watch the video and look at the face, posture, "
    "gestures, head motion and the scene. Describe valence and arousal with their visible cues.",
    "The person smiles broadly and nods, leaning forward; valence is positive and arousal is high.",
    "A calm face with relaxed shoulders and little movement shows neutral valence and low arousal.",
    "She frowns, looks down and crosses her arms; the mood turns negative while arousal rises.",
    "He laughs, raises his eyebrows and gestures quickly with both hands in a bright room.",
    "Seconds 0.0 0.5 1.0 1.5 2.0 2.5 3.0 3.5 4.0: the expression changes from tense to relaxed.",
)


def _atomic_folder(out: Path, write) -> Path:
    """Write a model folder beside `out` and rename it into place, so a crash leaves no half folder."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        write(tmp)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def tiny_qwen_tokenizer(vocab_size: int = 512):
    """A byte-level BPE tokenizer with the Qwen special tokens, pad `<|endoftext|>`, eos `<|im_end|>`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(QWEN_SPECIAL),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   additional_special_tokens=list(QWEN_SPECIAL[1:]))
    fast.chat_template = QWEN_CHAT_TEMPLATE
    return fast


def tiny_qwen3vl_config(tokenizer, hidden: int = 64, layers: int = 2, vision_depth: int = 2):
    """Config of a tiny Qwen3-VL whose special token ids are the tokenizer's."""
    from transformers import Qwen3VLConfig

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL}
    heads = max(1, hidden // 16)
    text = dict(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
                num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=max(1, heads // 2),
                head_dim=16, max_position_embeddings=4096, pad_token_id=ids["<|endoftext|>"],
                rope_parameters={"rope_type": "default", "rope_theta": 5e5, "mrope_section": [4, 2, 2],
                                 "mrope_interleaved": True})
    vision = dict(depth=vision_depth, hidden_size=hidden, intermediate_size=2 * hidden, num_heads=heads,
                  patch_size=16, temporal_patch_size=2, spatial_merge_size=2, out_hidden_size=hidden,
                  num_position_embeddings=144, deepstack_visual_indexes=list(range(vision_depth)))
    return Qwen3VLConfig(text_config=text, vision_config=vision, image_token_id=ids["<|image_pad|>"],
                         video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
                         vision_end_token_id=ids["<|vision_end|>"], tie_word_embeddings=False)


def build_tiny_qwen3vl(out: Path, seed: int = 0, hidden: int = 64, layers: int = 2) -> Path:
    """Write a tiny random-weight Qwen3-VL checkpoint folder to `out` and return it."""
    from transformers import GenerationConfig, Qwen3VLForConditionalGeneration

    def write(folder: Path) -> None:
        tokenizer = tiny_qwen_tokenizer()
        config = tiny_qwen3vl_config(tokenizer, hidden=hidden, layers=layers)
        torch.manual_seed(seed)
        model = Qwen3VLForConditionalGeneration(config).eval()
        stop = [tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")]
        model.generation_config = GenerationConfig(eos_token_id=stop, pad_token_id=stop[1],
                                                   bos_token_id=stop[1], do_sample=False)
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        (folder / "video_preprocessor_config.json").write_text(json.dumps({
            "video_processor_type": "Qwen3VLVideoProcessor", "patch_size": 16, "temporal_patch_size": 2,
            "merge_size": 2, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
            "rescale_factor": 1 / 255}, indent=2))

    return _atomic_folder(out, write)


def tiny_bert_tokenizer(vocab_size: int = 400):
    """A lower-cased WordPiece tokenizer with the BERT special tokens and [CLS] x [SEP] framing."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=special, show_progress=False)
    tok.train_from_iterator(CORPUS, trainer=trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")


def build_tiny_bert(out: Path, seed: int = 0, hidden: int = 32) -> Path:
    """Write a tiny random-weight BERT sentence encoder folder to `out` and return it."""
    from transformers import BertConfig, BertModel

    def write(folder: Path) -> None:
        tokenizer = tiny_bert_tokenizer()
        config = BertConfig(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=2,
                            num_attention_heads=2, intermediate_size=2 * hidden, max_position_embeddings=256,
                            pad_token_id=tokenizer.pad_token_id)
        torch.manual_seed(seed)
        BertModel(config).eval().save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    return _atomic_folder(out, write)
