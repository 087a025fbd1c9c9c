#!/usr/bin/env bash
# Clips per second of the behaviour describer with a full-size Qwen3-VL-4B on one GPU.
#
#     bash bench/gpu_describe.sh [CLIPS] [MAX_NEW_TOKENS]      # defaults: 32 clips, 100 new tokens
#
# The model is Qwen3-VL-4B-Instruct's architecture (config values written below, nothing is
# downloaded) with random weights, in bfloat16 with SDPA attention. Clips are 16 frames of 640 x 360
# fitted to multiples of 32 (352 x 640: 1,760 video tokens per clip), random pixels. The tokenizer is
# the tiny offline one with the Qwen special token ids of the real checkpoint, so the instruction
# has fewer text tokens than with the real tokenizer (a few dozen out of ~1,900 prompt tokens). A
# random model rarely ends its turn, so nearly every clip decodes all MAX_NEW_TOKENS: the figures are
# a worst case for decoding. Prints clips/s at batch 1 and 8, text-model calls per clip (1 prefill
# per batch + decoding steps), prefill and decoding time, and peak GPU memory.
set -euo pipefail
cd "$(dirname "$0")/.."
CLIPS="${1:-32}" MAX_NEW="${2:-100}" PYTHONUNBUFFERED=1 exec "${PYTHON:-python}" - <<'EOF'
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, ".")
from transformers import GenerationConfig, Qwen3VLConfig, Qwen3VLForConditionalGeneration  # noqa: E402

from src_behavior_description import describer as d  # noqa: E402
from src_behavior_description import video_inputs as vi  # noqa: E402
from src_behavior_description.tiny_models import QWEN_SPECIAL, tiny_qwen_tokenizer  # noqa: E402

assert torch.cuda.is_available(), "this bench needs a CUDA GPU"
CLIPS, MAX_NEW = int(os.environ["CLIPS"]), int(os.environ["MAX_NEW"])

# Qwen3-VL-4B-Instruct (config.json of the published checkpoint).
REAL_IDS = {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645, "<|vision_start|>": 151652,
            "<|vision_end|>": 151653, "<|image_pad|>": 151655, "<|video_pad|>": 151656}
TEXT = dict(vocab_size=151936, hidden_size=2560, intermediate_size=9728, num_hidden_layers=36,
            num_attention_heads=32, num_key_value_heads=8, head_dim=128, hidden_act="silu",
            max_position_embeddings=262144, rms_norm_eps=1e-6, attention_bias=False, attention_dropout=0.0,
            rope_parameters={"rope_type": "default", "rope_theta": 5_000_000, "mrope_section": [24, 20, 20],
                             "mrope_interleaved": True}, pad_token_id=REAL_IDS["<|endoftext|>"])
VISION = dict(depth=24, hidden_size=1024, intermediate_size=4096, num_heads=16, in_channels=3, patch_size=16,
              spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=2560, num_position_embeddings=2304,
              deepstack_visual_indexes=[5, 11, 17], hidden_act="gelu_pytorch_tanh")


class RemappedTokenizer:
    """The tiny tokenizer with its special tokens moved to the real checkpoint's ids."""

    def __init__(self):
        self.inner = tiny_qwen_tokenizer()
        self.to_real = {self.inner.convert_tokens_to_ids(t): REAL_IDS[t] for t in QWEN_SPECIAL}
        self.to_tiny = {v: k for k, v in self.to_real.items()}
        self.pad_token_id, self.eos_token_id, self.unk_token_id = 151643, 151645, None
        self.chat_template = self.inner.chat_template

    def convert_tokens_to_ids(self, token):
        return REAL_IDS.get(token, self.inner.convert_tokens_to_ids(token))

    def apply_chat_template(self, *args, **kwargs):
        return self.inner.apply_chat_template(*args, **kwargs)

    def __call__(self, text, **kwargs):
        enc = self.inner(text, **kwargs)
        enc["input_ids"] = [self.to_real.get(i, i) for i in enc["input_ids"]]
        return enc

    def decode(self, ids, **kwargs):
        return self.inner.decode([self.to_tiny.get(int(i), int(i) % len(self.inner)) for i in ids], **kwargs)


config = Qwen3VLConfig(text_config=TEXT, vision_config=VISION, image_token_id=151655, video_token_id=151656,
                       vision_start_token_id=151652, vision_end_token_id=151653, tie_word_embeddings=True)
config._attn_implementation = "sdpa"
start = time.perf_counter()
torch.manual_seed(0)
with torch.device("cuda"):
    model = Qwen3VLForConditionalGeneration._from_config(config, dtype=torch.bfloat16, attn_implementation="sdpa")
model.eval()
model.generation_config = GenerationConfig(eos_token_id=[151645, 151643], pad_token_id=151643)
n_params = sum(p.numel() for p in model.parameters())
print(f"Qwen3-VL-4B architecture, random weights: {n_params / 1e9:.2f} B parameters, built in "
      f"{time.perf_counter() - start:.1f} s, {torch.cuda.get_device_name()}")

h, w = 352, 640  # 640 x 360 fitted to multiples of 32 under a 640 * 360 pixel budget
rng = np.random.default_rng(0)
frames = [rng.integers(0, 256, (16, h, w, 3), dtype=np.uint8) for _ in range(min(CLIPS, 8))]
clips = [d.Clip(frames=frames[i % len(frames)], times=np.arange(16) / 4.0) for i in range(CLIPS)]
for batch in (1, 8):
    cfg = d.DescriberConfig(kind="qwen3vl", path="random-qwen3-vl-4b", batch_size=batch, max_new_tokens=MAX_NEW)
    describer = d.Describer(cfg, model, RemappedTokenizer(), vi.VideoLayout(), identity={})
    describer.describe(clips[:batch])  # warm-up: kernels, allocator
    prefill_s = []
    hook = model.model.language_model.register_forward_pre_hook(
        lambda m, a, kw: prefill_s.append(time.perf_counter()) if kw["inputs_embeds"].shape[1] > 1 else None,
        with_kwargs=True)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before, start = describer.forward_calls, time.perf_counter()
    out = describer.describe(clips)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    hook.remove()
    calls = describer.forward_calls - before
    generated = np.mean([x.generated_tokens for x in out])
    print(f"batch {batch}: {CLIPS / seconds:.2f} clips/s ({seconds:.1f} s for {CLIPS} clips), "
          f"{calls / CLIPS:.1f} text-model calls per clip ({len(prefill_s)} prefills), "
          f"{generated:.0f} generated and {out[0].video_tokens} video tokens per clip, "
          f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
EOF
