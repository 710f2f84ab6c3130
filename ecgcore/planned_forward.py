"""An inference-only Net1D forward pass that runs each stage in the memory layout that is fastest for it.

Why: on x86 CPUs oneDNN is several times faster on the narrow 1x1 convolutions of the early stages
when activations are channels-last (NHWC, ``(N, C, 1, L)``), and 2-3x faster on the wide grouped
k16 convolutions of the late stages when they are channels-first (``bench/bench_conv_layouts.py``).
No single layout wins, so :class:`PlannedNet1D` takes a :class:`LayoutPlan` (one layout per
stage, chosen by measurement in :mod:`ecgcore.layout_planner`) and converts activations only where the
plan changes layout.

It also folds what eval mode makes constant: BatchNorm after a convolution goes into that
convolution's weights, dropout disappears, and SAME padding is done by the convolution itself
wherever :func:`ecgcore.model.same_conv_padding` allows. Outputs equal
:class:`ecgcore.model.Net1D`'s to float32 rounding (tested); gradients are not supported
(explanations keep using the eager module).

Only the stem and the blocks are written again here, because they compute differently (folded
weights, layouts, in-place work on buffers nobody else reads); the order of the network (stem,
stages, mean over time, ``dense``) is :class:`ecgcore.model.Net1DForward`'s, shared with ``Net1D``.
The twin is an ``nn.Module`` whose folded weights are buffers, so ``buffers()``, ``to()`` and
printouts see everything it computes with.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ecgcore.errors import ModelError
from ecgcore.model import BottleneckBlock, ConvSame1d, Net1D, Net1DForward, same_conv_padding, same_padding

CHANNELS_FIRST = "channels_first"
CHANNELS_LAST = "channels_last"
LAYOUTS = (CHANNELS_FIRST, CHANNELS_LAST)


def in_layout(x: torch.Tensor, layout: str) -> bool:
    """Whether the 3D activation ``x`` (N, C, L) is dense in ``layout`` (N, C, L) or (N, L, C) order."""
    return x.is_contiguous() if layout == CHANNELS_FIRST else x.transpose(1, 2).is_contiguous()


def to_layout(x: torch.Tensor, layout: str) -> torch.Tensor:
    """``x`` itself when already dense in ``layout``, else a dense copy in that layout (one pass)."""
    if in_layout(x, layout):
        return x
    if layout == CHANNELS_FIRST:
        return x.contiguous()
    return x.transpose(1, 2).contiguous().transpose(1, 2)


def pad_in_layout(x: torch.Tensor, left: int, right: int, layout: str) -> torch.Tensor:
    """Zero-pad the time axis, keeping ``layout`` (``F.pad`` returns channels-first whatever it gets)."""
    n, c, length = x.shape
    if layout == CHANNELS_FIRST:
        out = x.new_empty(n, c, left + length + right)
    else:
        out = x.new_empty(n, left + length + right, c).transpose(1, 2)
    out[..., :left].zero_()
    out[..., left + length:].zero_()
    out[..., left:left + length].copy_(x)
    return out


def activate(x: torch.Tensor, layout: str, *, owned: bool) -> torch.Tensor:
    """SiLU(x), dense in ``layout``, in as few memory passes as possible.

    ``owned`` says nothing else reads ``x`` (a convolution's fresh output), so it may be overwritten.
    """
    if in_layout(x, layout):
        return F.silu(x, inplace=owned)
    innermost = 1 if layout == CHANNELS_LAST else -1  # the axis with unit stride in ``layout``
    if x.stride(innermost) == 1:
        return F.silu(x)  # a non-dense view in the right order: an out-of-place SiLU makes it dense
    return F.silu(to_layout(x, layout), inplace=True)  # the copy is ours to overwrite


def _batchnorm_affine(bn: nn.BatchNorm1d) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (scale, shift) that eval-mode ``bn`` applies."""
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias.detach() - bn.running_mean * scale


class PlannedConv(nn.Module):
    """One SAME-padded convolution in a fixed layout, with an optional following BatchNorm folded in.

    Holds only the weights its layout needs (aliasing the module's when nothing is folded and the
    layouts agree), so a planned twin of the 30.8M-parameter network costs little extra memory.
    They are non-persistent buffers: derived from the eager module and the machine's plan, so the
    twin is rebuilt, never saved.
    """

    def __init__(self, module: ConvSame1d, layout: str, batchnorm: nn.BatchNorm1d | None = None):
        super().__init__()
        conv = module.conv
        weight = conv.weight.detach()
        bias = conv.bias.detach() if conv.bias is not None else torch.zeros(conv.out_channels)
        if batchnorm is not None:
            scale, shift = _batchnorm_affine(batchnorm)
            weight = weight * scale[:, None, None]
            bias = bias * scale + shift
        self.layout = layout
        self.kernel_size = module.kernel_size
        self.stride = module.stride
        self.groups = conv.groups
        if layout == CHANNELS_FIRST:
            weight = weight.contiguous()
        else:
            weight = weight.unsqueeze(2).contiguous(memory_format=torch.channels_last)
        self.register_buffer("weight", weight, persistent=False)
        self.register_buffer("bias", bias.contiguous(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve ``x`` (dense in this conv's layout); the result may be a view (even kernels at stride 1)."""
        padding = same_conv_padding(x.shape[-1], self.kernel_size, self.stride)
        if padding.before != (0, 0):
            x = pad_in_layout(x, *padding.before, self.layout)
        if self.layout == CHANNELS_FIRST:
            out = F.conv1d(x, self.weight, self.bias, self.stride, padding.conv, 1, self.groups)
        else:
            out = F.conv2d(x.unsqueeze(2), self.weight, self.bias, (1, self.stride), (0, padding.conv), 1,
                           self.groups).squeeze(2)
        return out[..., 1:] if padding.drop_first else out

    def extra_repr(self) -> str:
        return f"{self.layout}, kernel_size={self.kernel_size}, stride={self.stride}, groups={self.groups}"


@dataclass(frozen=True)
class LayoutPlan:
    """Where the convolutions run: one layout for the stem and one per stage.

    A stage is the unit because converting an activation costs a full transposing copy (1-5 ms at
    batch 32 for the early, long feature maps), which mixing layouts inside a block never paid back.
    """

    stem: str
    stages: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "stages", tuple(self.stages))
        for layout in (self.stem, *self.stages):
            if layout not in LAYOUTS:
                raise ModelError(f"unknown memory layout {layout!r}; use one of {LAYOUTS}")

    @classmethod
    def uniform(cls, n_stages: int, layout: str) -> "LayoutPlan":
        return cls(stem=layout, stages=(layout,) * n_stages)

    def to_dict(self) -> dict:
        return {"stem": self.stem, "stages": list(self.stages)}

    @classmethod
    def from_dict(cls, data: dict) -> "LayoutPlan":
        return cls(stem=data["stem"], stages=tuple(data["stages"]))


class PlannedBlock(nn.Module):
    """A :class:`BottleneckBlock` for inference in one layout; its input may come in the other one.

    Shares the eager block's squeeze-excitation layers (sub-modules of both).
    """

    def __init__(self, block: BottleneckBlock, layout: str):
        super().__init__()
        self.layout = layout
        self.is_first_block = block.is_first_block
        use_bn = block.use_bn
        pre_scale, pre_shift = (_batchnorm_affine(block.bn1) if use_bn and not block.is_first_block
                                else (None, None))
        self.register_buffer("pre_scale", pre_scale, persistent=False)  # BN1 as an affine map, or None
        self.register_buffer("pre_shift", pre_shift, persistent=False)
        self.conv1 = PlannedConv(block.conv1, layout, block.bn2 if use_bn else None)
        self.conv2 = PlannedConv(block.conv2, layout, block.bn3 if use_bn else None)
        self.conv3 = PlannedConv(block.conv3, layout)
        self.se_fc1, self.se_fc2 = block.se_fc1, block.se_fc2
        self.pool = block.stride if block.max_pool is not None else 1
        self.extra_channels = block.out_channels - block.in_channels

    def _pre_activation(self, x: torch.Tensor) -> torch.Tensor:
        """SiLU(BN1(x)) for conv1; never overwrites ``x``, which is also the shortcut."""
        if self.is_first_block:
            return x
        if self.pre_scale is not None:
            return activate(torch.addcmul(self.pre_shift[:, None], x, self.pre_scale[:, None]), self.layout,
                            owned=True)
        return F.silu(x)

    def _shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool > 1:
            if x.shape[-1] % self.pool:
                x = pad_in_layout(x, *same_padding(x.shape[-1], self.pool, 1), self.layout)  # zeros, as released
            # Windows of width = stride = pool as an element-wise maximum of strided views: one
            # pass in either layout (max_pool2d on (N, C, 1, L) is ~10x slower here).
            windows = [x[..., i::self.pool] for i in range(self.pool)]
            x = windows[0]
            for window in windows[1:]:
                x = torch.maximum(x, window)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        layout = self.layout
        x = to_layout(x, layout)
        out = self.conv1(self._pre_activation(x))
        out = self.conv2(activate(out, layout, owned=True))
        out = self.conv3(activate(out, layout, owned=True))
        scale = torch.sigmoid(self.se_fc2(F.silu(self.se_fc1(out.mean(-1)))))
        out.mul_(scale[:, :, None])
        shortcut = self._shortcut(x)
        if self.extra_channels:
            # The release zero-pads the shortcut's channels; adding it into the middle channels does
            # the same without materialising the zeros.
            first = self.extra_channels // 2
            out[:, first:first + shortcut.shape[1]].add_(shortcut)
            return out
        return out.add_(shortcut)


class PlannedNet1D(Net1DForward):
    """Inference-only twin of a :class:`Net1D` (in eval mode) that follows a :class:`LayoutPlan`.

    ``forward_stem`` and the blocks are its own; ``forward_stages``, ``forward_head`` and ``forward``
    are Net1D's (:class:`ecgcore.model.Net1DForward`), and ``forward_features`` only adds a refusal
    of gradients. It shares the eager module's linear layers and copies its convolution weights, so
    build it again after changing the model's weights.
    """

    def __init__(self, model: Net1D, plan: LayoutPlan):
        super().__init__()
        if len(plan.stages) != len(model.stage_list):
            raise ModelError(f"layout plan has {len(plan.stages)} stages; the model has {len(model.stage_list)}")
        if model.training:
            raise ModelError("PlannedNet1D is for inference: call model.eval() first")
        self.config = model.config
        self.plan = plan
        with torch.no_grad():
            self.stem = PlannedConv(model.first_conv, plan.stem, model.first_bn if model.config.use_bn else None)
            self.stage_list = nn.ModuleList(
                nn.Sequential(*(PlannedBlock(block, layout) for block in stage.block_list))
                for stage, layout in zip(model.stage_list, plan.stages))
        self.dense = model.dense
        self.train(False)

    def train(self, mode: bool = True) -> PlannedNet1D:
        if mode:
            raise ModelError("PlannedNet1D is for inference only; train the eager Net1D and build a new twin")
        return super().train(False)

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        layout = self.plan.stem
        return activate(self.stem(to_layout(x, layout)), layout, owned=True)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            raise ModelError("PlannedNet1D has no gradients; use the eager Net1D (e.g. for saliency)")
        return super().forward_features(x)
