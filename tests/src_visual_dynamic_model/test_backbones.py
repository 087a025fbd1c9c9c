import warnings

import numpy as np
import pytest
import torch
from torch import nn

from abaw.errors import AbawError
from src_visual_dynamic_model.backbones import letterbox, load_backbone, pick_device, to_input
from src_visual_dynamic_model.config import BackboneConfig, PreprocessConfig

CPU = torch.device("cpu")


def test_letterbox_keeps_aspect_and_pads_black():
    image = np.full((50, 100, 3), 200, np.uint8)
    out = letterbox(image, 40)
    assert out.shape == (40, 40, 3)
    assert (out[:10] == 0).all() and (out[30:] == 0).all()  # 100x50 -> 40x20, centred vertically
    assert (out[10:30] == 200).all()
    assert letterbox(np.zeros((40, 40, 3), np.uint8), 40).shape == (40, 40, 3)
    assert letterbox(np.full((8, 4, 3), 9, np.uint8), 16)[:, :4].max() == 0  # upscaled, padded left/right


def test_to_input_normalises_and_flips_to_rgb():
    batch = torch.zeros(1, 2, 2, 3, dtype=torch.uint8)
    batch[..., 0] = 255  # blue in OpenCV's BGR order
    pre = PreprocessConfig(size=2, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), rgb=True)
    x = to_input(batch, pre)
    assert x.shape == (1, 3, 2, 2)
    assert torch.allclose(x[0, 2], torch.ones(2, 2)) and torch.allclose(x[0, 0], -torch.ones(2, 2))
    bgr = to_input(batch, PreprocessConfig(size=2, mean=(0.5,) * 3, std=(0.5,) * 3, rgb=False))
    assert torch.allclose(bgr[0, 0], torch.ones(2, 2))


def test_tiny_is_deterministic_per_seed():
    x = torch.randn(4, 3, 112, 112)
    a = load_backbone(BackboneConfig(kind="tiny", dim=24, seed=3), CPU)
    b = load_backbone(BackboneConfig(kind="tiny", dim=24, seed=3), CPU)
    c = load_backbone(BackboneConfig(kind="tiny", dim=24, seed=4), CPU)
    assert a.dim == 24 and a.identity == "tiny:seed=3:dim=24"
    torch.testing.assert_close(a.encode(x), b.encode(x))
    assert not torch.allclose(a.encode(x), c.encode(x))
    assert a.gradcam_layer is not None


ENCODER = '''
import torch
from torch import nn


class Encoder(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.conv = nn.Conv2d(3, dim, 3)

    def forward(self, x):
        return self.conv(x), "aux"


def load_model(dim=4):
    return Encoder(dim)


def not_a_model():
    return 3
'''


def test_python_backbone_from_a_local_folder(tmp_path):
    (tmp_path / "my_encoders.py").write_text(ENCODER)
    cfg = BackboneConfig(kind="python", target="my_encoders:load_model", import_path=tmp_path,
                         kwargs={"dim": 6}, output="0", gradcam_layer="conv",
                         preprocess=PreprocessConfig(size=16))
    encoder = load_backbone(cfg, CPU)
    assert encoder.dim == 6 and encoder.identity == "python:my_encoders:load_model"
    out = encoder.encode(torch.randn(2, 3, 16, 16))
    assert out.shape == (2, 6)  # the [B,C,H,W] map is averaged over space
    assert encoder.gradcam_layer is encoder.module.conv


@pytest.mark.parametrize("target, output, match", [
    ("my_encoders_x:load_model", "0", "cannot import"),
    ("my_encoders_x", "0", "module:function"),
    ("my_encoders_x:nothing", "0", "has no 'nothing'"),
    ("my_encoders_x:not_a_model", "0", "must return a torch.nn.Module"),
    ("my_encoders_x:load_model", "", "not a tensor"),
    ("my_encoders_x:load_model", "5", "does not select"),
])
def test_python_backbone_errors(tmp_path, target, output, match):
    folder = tmp_path / "pkg"
    folder.mkdir()
    if "cannot import" not in match:
        (folder / "my_encoders_x.py").write_text(ENCODER)
    cfg = BackboneConfig(kind="python", target=target, import_path=folder, output=output,
                         preprocess=PreprocessConfig(size=16))
    with pytest.raises(AbawError, match=match):
        load_backbone(cfg, CPU)


def test_gradcam_layer_must_exist(tmp_path):
    (tmp_path / "enc_layer.py").write_text(ENCODER)
    cfg = BackboneConfig(kind="python", target="enc_layer:load_model", import_path=tmp_path, output="0",
                         gradcam_layer="conv9", preprocess=PreprocessConfig(size=16))
    with pytest.raises(AbawError, match="gradcam_layer"):
        load_backbone(cfg, CPU)


def test_torchscript_backbone(tmp_path):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 5, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()
    path = tmp_path / "encoder.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(net).save(str(path))
    cfg = BackboneConfig(kind="torchscript", path=path, preprocess=PreprocessConfig(size=12))
    encoder = load_backbone(cfg, CPU)
    x = torch.randn(3, 3, 12, 12)
    assert encoder.dim == 5
    torch.testing.assert_close(encoder.encode(x), net(x))
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(AbawError, match="not a TorchScript file"):
        load_backbone(BackboneConfig(kind="torchscript", path=tmp_path / "junk.pt"), CPU)
    with pytest.raises(AbawError, match="TorchScript file is needed"):
        load_backbone(BackboneConfig(kind="torchscript", path=tmp_path / "missing.pt"), CPU)


def test_hf_backbone_from_a_saved_folder(tmp_path):
    from transformers import ConvNextConfig, ConvNextModel

    torch.manual_seed(0)
    model = ConvNextModel(ConvNextConfig(num_channels=3, hidden_sizes=[8, 12], depths=[1, 1], num_stages=2,
                                         image_size=32)).eval()
    model.save_pretrained(tmp_path / "convnext")
    encoder = load_backbone(BackboneConfig(kind="hf", path=tmp_path / "convnext",
                                           preprocess=PreprocessConfig(size=32)), CPU)
    x = torch.randn(2, 3, 32, 32)
    assert encoder.dim == 12 and encoder.identity == "hf:convnext"
    with torch.no_grad():
        torch.testing.assert_close(encoder.encode(x), model(pixel_values=x).pooler_output)
    with pytest.raises(AbawError, match="config.json"):
        load_backbone(BackboneConfig(kind="hf", path=tmp_path), CPU)


def test_devices():
    assert pick_device("cpu") == CPU
    assert pick_device("auto").type in ("cpu", "cuda")
    with pytest.raises(AbawError):
        pick_device("tpu:9")
    if not torch.cuda.is_available():
        with pytest.raises(AbawError, match="CUDA is not available"):
            pick_device("cuda")
