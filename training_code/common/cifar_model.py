"""A small, fast ResNet-style CIFAR-10 classifier in the spirit of airbench.

Three groups of (conv -> max-pool -> BN -> GELU -> conv -> BN -> GELU) over a conv stem, then a global
max-pool and a bias-free linear head whose logits are scaled down (airbench's temperature). ``width``
is the first group's channel count (airbench: 64, then 256, 256); tests use a tiny width.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

# CIFAR-10 channel statistics (0-1 scale), used for every data set so a model is self-describing.
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
MODEL_CONFIG_FILE = "model_config.json"
MODEL_WEIGHTS_FILE = "model.pt"


@dataclass(frozen=True)
class ModelConfig:
    width: int = 64
    num_classes: int = 10
    logit_scale: float = 1 / 9
    arch: str = "dtrain-cifar-resnet"
    mean: tuple[float, float, float] = CIFAR_MEAN
    std: tuple[float, float, float] = CIFAR_STD

    @property
    def widths(self) -> tuple[int, int, int]:
        return (self.width, 4 * self.width, 4 * self.width)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, momentum=0.4, eps=1e-12)


class ConvGroup(nn.Module):
    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels_out, 3, padding=1, bias=False)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = _bn(channels_out)
        self.conv2 = nn.Conv2d(channels_out, channels_out, 3, padding=1, bias=False)
        self.norm2 = _bn(channels_out)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.norm1(self.pool(self.conv1(x))))
        return self.act(self.norm2(self.conv2(x)))


class CifarNet(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        stem = max(8, config.width // 2)
        w1, w2, w3 = config.widths
        self.stem = nn.Sequential(nn.Conv2d(3, stem, 3, padding=1, bias=False), _bn(stem), nn.GELU())
        self.groups = nn.Sequential(ConvGroup(stem, w1), ConvGroup(w1, w2), ConvGroup(w2, w3))
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.head = nn.Linear(w3, config.num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.groups(self.stem(x))).flatten(1)
        return self.head(x) * self.config.logit_scale


def save_model(model: nn.Module, config: ModelConfig, model_dir: Path) -> None:
    """model.pt (a plain state dict, loadable with weights_only=True) + the config to rebuild it."""
    model_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save(state, model_dir / MODEL_WEIGHTS_FILE)
    (model_dir / MODEL_CONFIG_FILE).write_text(json.dumps(asdict(config), indent=2) + "\n")


def load_model(model_dir: Path) -> CifarNet:
    raw = json.loads((model_dir / MODEL_CONFIG_FILE).read_text())
    raw["mean"], raw["std"] = tuple(raw["mean"]), tuple(raw["std"])
    model = CifarNet(ModelConfig(**raw))
    model.load_state_dict(load_weights(model_dir / MODEL_WEIGHTS_FILE))
    return model.eval()


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """The state dict in `path`, tensors only where this torch can promise it.

    `weights_only` arrived in torch 1.13; the inference images the spec still offers go back to
    1.10 (dtrain.jobspec.inference_images), whose torch.load hands unknown keywords to pickle's
    Unpickler, which refuses them (TypeError). There, a plain load: the file is this trainer's own.
    """
    if "weights_only" in inspect.signature(torch.load).parameters:
        return torch.load(path, map_location="cpu", weights_only=True)  # type: ignore[no-any-return]
    return torch.load(path, map_location="cpu")  # type: ignore[no-any-return]
