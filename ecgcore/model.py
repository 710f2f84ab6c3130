"""Net1D: the RegNet-style 1D CNN of ECGFounder, state-dict compatible with the public checkpoints.

Layout (names match the official checkpoints, which is what makes strict loading work):

- ``first_conv.conv`` (SAME-padded, stride 2) -> ``first_bn`` -> Swish;
- ``stage_list.{s}.block_list.{b}``: pre-activation bottleneck blocks
  (``bn1``/Swish/``conv1`` 1x1, ``bn2``/Swish/``conv2`` grouped k-wide conv carrying the
  stage's stride in its first block, ``bn3``/Swish/``conv3`` 1x1), squeeze-excitation
  (``se_fc1``, ``se_fc2``), and a residual whose shortcut is SAME max-pooled when the block
  downsamples and zero-padded in channels when widths differ;
- mean over time -> ``dense``.

``use_bn`` follows the release: the official configs are built with ``use_bn=False``, so the
BatchNorm modules exist (their tensors are in the checkpoints) but are *not applied*. Our own
small configs turn BatchNorm on because it trains far better from scratch on little data.

The order of the forward (stem -> stages -> mean over time -> ``dense``) is written once, in
:class:`Net1DForward`, because three callers run it: the eager :class:`Net1D` (training,
gradients, explanations), its layout-planned inference twin
(:class:`ecgcore.planned_forward.PlannedNet1D`, which computes the stem and each block its own way
but in this order) and Grad-CAM's tail in :mod:`ecgcore.explain` (the stages after one stage, then
the head). The SAME-padding arithmetic is likewise shared (:func:`same_conv_padding`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from itertools import islice
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ecgcore.errors import ModelError


def same_padding(length: int, kernel_size: int, stride: int) -> tuple[int, int]:
    """(left, right) zero padding so a conv outputs ceil(length / stride) samples, as TensorFlow's SAME."""
    out_length = (length + stride - 1) // stride
    total = max(0, (out_length - 1) * stride + kernel_size - length)
    return total // 2, total - total // 2


class SamePadding(NamedTuple):
    """How a convolution gets SAME padding while copying its input as rarely as possible."""

    before: tuple[int, int]  # (left, right) zeros to add to the input first; (0, 0) when the conv can do it
    conv: int  # zeros the convolution itself adds on each side
    drop_first: bool  # discard the first output


@lru_cache(maxsize=4096)  # a handful of (length, kernel, stride) per input length; called per conv
def same_conv_padding(length: int, kernel_size: int, stride: int) -> SamePadding:
    """SAME padding for a conv over ``length`` samples, done by the convolution where it can be.

    Symmetric padding is the conv's own. An even kernel at stride 1 needs one more zero on the
    right: the conv pads ``right`` zeros on both sides and the first output is dropped, which gives
    the same windows without copying the input. Only the strided asymmetric case pads first.
    """
    left, right = same_padding(length, kernel_size, stride)
    if left == right:
        return SamePadding((0, 0), left, False)
    if stride == 1 and right == left + 1:
        return SamePadding((0, 0), right, True)
    return SamePadding((left, right), 0, False)


class Swish(nn.Module):
    """x * sigmoid(x) (SiLU); a module so checkpoints and printouts keep the release's structure.

    ``may_overwrite_input=True`` is only for inputs nothing else reads (a conv's fresh output): then,
    when no gradient is recorded, it works in place and saves a memory pass. A block's input is
    also its shortcut, so the activation applied to it must never overwrite it.
    """

    def __init__(self, may_overwrite_input: bool = False):
        super().__init__()
        self.may_overwrite_input = may_overwrite_input

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inplace = self.may_overwrite_input and not torch.is_grad_enabled() and not x.requires_grad
        return F.silu(x, inplace=inplace)


class ConvSame1d(nn.Module):
    """Conv1d with SAME padding; the wrapped conv is named ``conv`` as in the checkpoints."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, stride=stride, groups=groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padding = same_conv_padding(x.shape[-1], self.kernel_size, self.stride)
        if padding.before != (0, 0):
            x = F.pad(x, padding.before)
        out = F.conv1d(x, self.conv.weight, self.conv.bias, self.stride, padding.conv, 1, self.conv.groups)
        return out[..., 1:] if padding.drop_first else out


class MaxPoolSame1d(nn.Module):
    """Max-pool of width = stride = ``kernel_size`` on the shortcut, padded like the release.

    The release pads for stride 1 (``kernel_size - 1`` zeros, all on the right for width 2) and
    pools with the default stride = width, giving ceil(L / width) samples, like the conv branch.
    Padding with zeros (not -inf) is part of the released numerics.
    """

    def __init__(self, kernel_size: int):
        super().__init__()
        self.kernel_size = kernel_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, same_padding(x.shape[-1], self.kernel_size, 1))
        return F.max_pool1d(x, self.kernel_size)


class BottleneckBlock(nn.Module):
    """Pre-activation bottleneck with squeeze-excitation and a SAME shortcut."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        ratio: float,
        kernel_size: int,
        stride: int,
        groups: int,
        downsample: bool,
        is_first_block: bool,
        use_bn: bool,
        dropout: float,
    ):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride if downsample else 1
        self.downsample = downsample
        self.is_first_block = is_first_block
        self.use_bn = use_bn
        middle = int(out_channels * ratio)

        self.bn1 = nn.BatchNorm1d(in_channels)
        self.activation1 = Swish()
        self.conv1 = ConvSame1d(in_channels, middle, 1)
        self.bn2 = nn.BatchNorm1d(middle)
        self.activation2 = Swish(may_overwrite_input=True)
        self.conv2 = ConvSame1d(middle, middle, kernel_size, stride=self.stride, groups=groups)
        self.bn3 = nn.BatchNorm1d(middle)
        self.activation3 = Swish(may_overwrite_input=True)
        self.conv3 = ConvSame1d(middle, out_channels, 1)
        self.se_fc1 = nn.Linear(out_channels, out_channels // 2)
        self.se_activation = Swish()
        self.se_fc2 = nn.Linear(out_channels // 2, out_channels)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.max_pool = MaxPoolSame1d(self.stride) if downsample else None

    def _pre(self, x: torch.Tensor, bn: nn.BatchNorm1d, activation: nn.Module) -> torch.Tensor:
        if self.use_bn:
            x = bn(x)
        return self.dropout(activation(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x if self.is_first_block else self._pre(x, self.bn1, self.activation1)
        out = self.conv1(out)
        out = self.conv2(self._pre(out, self.bn2, self.activation2))
        out = self.conv3(self._pre(out, self.bn3, self.activation3))

        scale = torch.sigmoid(self.se_fc2(self.se_activation(self.se_fc1(out.mean(-1)))))

        shortcut = self.max_pool(x) if self.max_pool is not None else x
        if self.out_channels != self.in_channels:
            extra = self.out_channels - self.in_channels
            shortcut = F.pad(shortcut, (0, 0, extra // 2, extra - extra // 2))
        return torch.addcmul(shortcut, out, scale.unsqueeze(-1))  # shortcut + out * scale, one pass


class Stage(nn.Module):
    """A run of blocks; only the first one changes width and length."""

    def __init__(self, in_channels: int, out_channels: int, n_blocks: int, i_stage: int, config: "Net1DConfig"):
        super().__init__()
        self.block_list = nn.ModuleList(
            BottleneckBlock(
                in_channels=in_channels if i == 0 else out_channels,
                out_channels=out_channels,
                ratio=config.ratio,
                kernel_size=config.kernel_size,
                stride=config.stride,
                groups=out_channels // config.groups_width,
                downsample=i == 0,
                is_first_block=i_stage == 0 and i == 0,
                use_bn=config.use_bn,
                dropout=config.dropout,
            )
            for i in range(n_blocks)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.block_list:
            x = block(x)
        return x


@dataclass(frozen=True)
class Net1DConfig:
    """Every architecture hyper-parameter; saved in model cards so a bundle rebuilds its own net."""

    in_channels: int = 12
    base_filters: int = 64
    ratio: float = 1.0
    filter_list: tuple[int, ...] = (64, 160, 160, 400, 400, 1024, 1024)
    m_blocks_list: tuple[int, ...] = (2, 2, 2, 3, 3, 4, 4)
    kernel_size: int = 16
    stride: int = 2
    groups_width: int = 16
    n_classes: int = 150
    use_bn: bool = False
    dropout: float = 0.0
    input_samples: int = 5000
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "filter_list", tuple(int(v) for v in self.filter_list))
        object.__setattr__(self, "m_blocks_list", tuple(int(v) for v in self.m_blocks_list))
        if len(self.filter_list) != len(self.m_blocks_list):
            raise ModelError("filter_list and m_blocks_list must have one entry per stage")
        bad = [w for w in self.filter_list if w % self.groups_width]
        if bad:
            raise ModelError(f"stage widths {bad} are not multiples of groups_width={self.groups_width}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["filter_list"] = list(self.filter_list)
        data["m_blocks_list"] = list(self.m_blocks_list)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Net1DConfig":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


class Net1DForward(nn.Module):
    """The order of Net1D's forward, for every module that runs it (see the module docstring).

    A subclass provides ``forward_stem``, ``stage_list`` (modules mapping a feature map to the
    next) and ``dense``. The split points are the ones callers need: the stem and each stage (the
    layout planner times them one by one), the stages after a given one (Grad-CAM's tail), and the
    feature map before the head.
    """

    stage_list: nn.ModuleList
    dense: nn.Linear

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_stages(self, x: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Stages ``start`` up to (not including) ``stop`` on ``x``, the output of the stage before ``start``."""
        for stage in islice(self.stage_list, start, stop):
            x = stage(x)
        return x

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's feature map (batch, channels, time), before pooling and the head."""
        return self.forward_stages(self.forward_stem(x))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Logits from a feature map: mean over time, then the linear head."""
        return self.dense(features.mean(-1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


class Net1D(Net1DForward):
    """The ECGFounder network. Input (batch, leads, samples) z-scored; output (batch, n_classes) logits."""

    def __init__(self, config: Net1DConfig):
        super().__init__()
        self.config = config
        self.first_conv = ConvSame1d(config.in_channels, config.base_filters, config.kernel_size, stride=2)
        self.first_bn = nn.BatchNorm1d(config.base_filters)
        self.first_activation = Swish(may_overwrite_input=True)
        stages = []
        in_channels = config.base_filters
        for i_stage, (width, n_blocks) in enumerate(zip(config.filter_list, config.m_blocks_list)):
            stages.append(Stage(in_channels, width, n_blocks, i_stage, config))
            in_channels = width
        self.stage_list = nn.ModuleList(stages)
        self.dense = nn.Linear(in_channels, config.n_classes)

    @property
    def n_features(self) -> int:
        return self.dense.in_features

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        out = self.first_conv(x)
        if self.config.use_bn:
            out = self.first_bn(out)
        return self.first_activation(out)

    def reset_head(self, n_classes: int) -> None:
        """A fresh Linear head for a new label set (fine-tuning / linear probing)."""
        self.dense = nn.Linear(self.n_features, n_classes)
        self.config = replace(self.config, n_classes=n_classes)


# -- registry of named configurations -----------------------------------------------------------
_OFFICIAL = Net1DConfig()
_SMALL = Net1DConfig(
    in_channels=12,
    base_filters=32,
    filter_list=(32, 64, 64, 128, 128, 256),
    m_blocks_list=(1, 1, 1, 1, 1, 1),
    kernel_size=16,
    groups_width=16,
    use_bn=True,
    dropout=0.1,
)
MODEL_CONFIGS: dict[str, Net1DConfig] = {
    # The released ECGFounder architectures (30.8M parameters); BatchNorm present but unused.
    "ecgfounder-12lead": _OFFICIAL,
    "ecgfounder-1lead": replace(_OFFICIAL, in_channels=1),
    # CPU-trainable configurations for our own models: same block design, narrower and shallower,
    # BatchNorm on. Names say their input; sizes are in their docstring in docs/models.md.
    "net1d-small-12lead": _SMALL,
    "net1d-small-1lead": replace(_SMALL, in_channels=1),
    # For unit tests: builds and runs in milliseconds.
    "net1d-tiny": Net1DConfig(
        in_channels=12,
        base_filters=8,
        filter_list=(16, 16, 32),
        m_blocks_list=(1, 1, 1),
        kernel_size=8,
        groups_width=8,
        use_bn=True,
    ),
}


def create_model(name: str, n_classes: int = 150, **overrides: Any) -> Net1D:
    """Build a named configuration (timm-style), e.g. ``create_model("ecgfounder-12lead")``.

    ``overrides`` change any :class:`Net1DConfig` field, e.g. ``in_channels=1``.
    Weights are random: load a bundle or checkpoint with :mod:`ecgcore.bundle`.
    """
    try:
        base = MODEL_CONFIGS[name]
    except KeyError:
        raise ModelError(f"Unknown model {name!r}; available: {', '.join(sorted(MODEL_CONFIGS))}") from None
    return Net1D(replace(base, n_classes=n_classes, **overrides))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
