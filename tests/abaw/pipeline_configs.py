"""Tiny stage configs for pipeline tests: every stage at the smallest size that still runs end to end.

The pipeline passes [data] to each stage, so these files hold only the model and training keys.
"""

from __future__ import annotations

from pathlib import Path

FACE = """
[backbone]
kind = "tiny"
dim = 16

[backbone.preprocess]
size = 32

[extract]
batch_size = 64
workers = 0

[model]
hidden = 16
layers = 1
heads = 2
ff_dim = 32
head_dim = 8

[train]
epochs = 1
window = 32
hop_length = 16
batch_size = 8
log_every = 0

[export]
smoothing = "none"
"""

DESCRIPTION = """
[sampling]
max_pixels = 2048
max_frames = 4
min_pixels = 1024
workers = 0

[describer]
kind = "tiny"
path = "{out}/describer"
batch_size = 16
max_new_tokens = 2
"""

BEHAVIOUR = """
[model]
kind = "mamba"
d_model = 16
head_dim = 8
dropout = 0.0

[model.mamba]
layers = 1
d_state = 4

[train]
epochs = 1
seq_len = 4
stride = 2
batch_size = 4
log_every = 0
"""

AUDIO = """
[extract_audio]
workers = 2

[reliability]
openmouth = "{dataset}/openmouth"

[audio]
kind = "tiny"
path = "{out}/tiny_wavlm"
normalise = "global"
trainable_layers = -1
pool_hidden = 16
head_dim = 16
hidden = 32
layers = 1
heads = 2
conv_dim = 16
conv_bias = true

[train_audio]
epochs = 1
batch_size = 8
eval_batch_size = 16
num_workers = 0
log_every = 0
ridge_baseline = false

[fusion]
modalities = ["face", "behaviour"]
priors = [0.85, 0.15]
hidden = 16
heads = 2
latents = 2
gate_hidden = 8

[train_fusion]
epochs = 1
batch_size = 8
eval_batch_size = 16
num_workers = 0
log_every = 0

[export_fusion]
smoothing = "none"
"""

DCMMOE = """
[modalities.face]
input = "embedding"

[modalities.behaviour]
input = "embedding"

[model]
hidden = 16
layers = 1
heads = 2
ff_dim = 32
gate_hidden = 8
head_dim = 8

[train]
epochs = 1
window = 32
hop_length = 16
batch_size = 4
log_every = 0

[export]
smoothing = "none"
"""

PIPELINE = """
[data]
annotations = "{dataset}/annotations"
test_template = "{dataset}/test_template.txt"
cropped_aligned = "{dataset}/cropped_aligned"
videos = "{dataset}/videos"
output_root = "{out}"

[face]
config = "face.toml"

[behaviour_description]
config = "description.toml"

[behaviour]
config = "behaviour.toml"

[audio]
config = "audio.toml"

[raav]
config = "audio.toml"

[dcmmoe]
config = "dcmmoe.toml"

[blend]
samples = 200
"""


def write_pipeline(folder: Path, dataset: Path) -> Path:
    """The stage configs and `pipeline.toml` in `folder`, outputs under `folder/out`; the pipeline's path."""
    out = folder / "out"
    folder.mkdir(parents=True, exist_ok=True)
    files = {"face.toml": FACE, "description.toml": DESCRIPTION, "behaviour.toml": BEHAVIOUR,
             "audio.toml": AUDIO, "dcmmoe.toml": DCMMOE, "pipeline.toml": PIPELINE}
    for name, text in files.items():
        (folder / name).write_text(text.format(dataset=dataset, out=out))
    return folder / "pipeline.toml"
