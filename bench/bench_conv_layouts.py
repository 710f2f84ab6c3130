"""Where ecgfounder-12lead's forward time goes, convolution by convolution, in both memory layouts.

    python -m bench.bench_conv_layouts [--batch 32] [--repeats 5]

Every convolution of the official architecture is timed alone at its real input shape, as PyTorch
runs it (channels-first, ``conv1d``) and in channels-last (``conv2d`` on (N, C, 1, L) NHWC tensors,
oneDNN's preferred layout), with the same symmetric padding in both. The table groups them by
kind and stage; the summary gives

- the whole forward pass (eager, as shipped) against the matmul peak of ``bench_core``;
- the time outside convolutions (activations, squeeze-excitation, shortcuts, padding copies);
- the *ceiling*: the fraction of the peak the model would reach if every convolution ran in its
  faster layout with zero cost for conversions and for everything that is not a convolution.

That ceiling is what bounds issue #3's ">= 80% of the matmul peak" target on this machine.
Writes ``bench/results/conv_layouts.json``.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import torch
import torch.nn.functional as F

from bench.bench_core import matmul_peak_gflops, model_flops
from bench.timing import median_seconds
from ecgcore.config import REPO_ROOT
from ecgcore.model import ConvSame1d, create_model


def conv_calls(model: torch.nn.Module, x: torch.Tensor) -> list[tuple[str, ConvSame1d, torch.Size, torch.Size]]:
    """(name, module, input shape, output shape) of every convolution in one forward pass."""
    calls = []
    names = {module: name for name, module in model.named_modules()}
    hooks = [m.register_forward_hook(lambda mod, inp, out: calls.append((names[mod], mod, inp[0].shape, out.shape)))
             for m in model.modules() if isinstance(m, ConvSame1d)]
    with torch.inference_mode():
        model(x)
    for hook in hooks:
        hook.remove()
    return calls


def time_layouts(conv: ConvSame1d, in_shape: torch.Size, repeats: int) -> tuple[float, float]:
    """Seconds for this convolution in channels-first and in channels-last layout."""
    c = conv.conv
    k, stride, groups = c.kernel_size[0], conv.stride, c.groups
    pad = k // 2 if k > 1 else 0
    x_ncw = torch.randn(in_shape)
    x_nhwc = x_ncw.unsqueeze(2).contiguous(memory_format=torch.channels_last)
    w_ncw = c.weight.detach()
    w_nhwc = w_ncw.unsqueeze(2).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        ncw = median_seconds(lambda: F.conv1d(x_ncw, w_ncw, c.bias, stride, pad, 1, groups), repeats, warmup=2)
        nhwc = median_seconds(lambda: F.conv2d(x_nhwc, w_nhwc, c.bias, (1, stride), (0, pad), 1, groups),
                              repeats, warmup=2)
    return ncw, nhwc


def conv_kind(conv: ConvSame1d) -> str:
    if conv.kernel_size == 1:
        return "1x1"
    return "stem" if conv.conv.groups == 1 else "grouped k16"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results" / "conv_layouts.json")
    args = parser.parse_args()

    torch.manual_seed(0)
    model = create_model("ecgfounder-12lead").eval()
    x = torch.randn(args.batch, 12, 5000)
    peak = matmul_peak_gflops(args.repeats)["peak"]
    flops = args.batch * model_flops(model, 12)
    with torch.inference_mode():
        forward_s = median_seconds(lambda: model(x), args.repeats, warmup=2)

    groups: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: {"n": 0, "gflop": 0.0, "ncw_s": 0.0, "nhwc_s": 0.0})
    cache: dict[tuple, tuple[float, float]] = {}
    layers = []
    for name, conv, in_shape, out_shape in conv_calls(model, x):
        key = (tuple(in_shape), conv.conv.out_channels, conv.kernel_size, conv.conv.groups, conv.stride)
        if key not in cache:  # blocks repeat shapes; time each shape once
            cache[key] = time_layouts(conv, in_shape, args.repeats)
        ncw, nhwc = cache[key]
        c = conv.conv
        gflop = 2 * out_shape[0] * out_shape[1] * out_shape[2] * (c.in_channels // c.groups) * c.kernel_size[0] / 1e9
        stage = name.split(".")[1] if name.startswith("stage_list") else "stem"
        row = groups[(conv_kind(conv), stage)]
        row["n"] += 1
        row["gflop"] += gflop
        row["ncw_s"] += ncw
        row["nhwc_s"] += nhwc
        layers.append({"name": name, "in_shape": list(in_shape), "gflop": gflop, "ncw_s": ncw, "nhwc_s": nhwc})

    ncw_total = sum(r["ncw_s"] for r in layers)
    nhwc_total = sum(r["nhwc_s"] for r in layers)
    best_total = sum(min(r["ncw_s"], r["nhwc_s"]) for r in layers)
    conv_gflop = sum(r["gflop"] for r in layers)
    summary = {
        "batch": args.batch,
        "matmul_peak_gflops": peak,
        "model_gflop_per_batch": flops / 1e9,
        "conv_share_of_flops": conv_gflop / (flops / 1e9),
        "forward_ms": 1e3 * forward_s,
        "forward_fraction_of_peak": flops / forward_s / 1e9 / peak,
        "convs_channels_first_ms": 1e3 * ncw_total,
        "convs_channels_last_ms": 1e3 * nhwc_total,
        "convs_best_layout_each_ms": 1e3 * best_total,
        "outside_convs_ms": 1e3 * (forward_s - ncw_total),
        "ceiling_fraction_of_peak": flops / best_total / 1e9 / peak,
    }

    print(f"\necgfounder-12lead, batch {args.batch}: {flops / 1e9:.1f} GFLOP; matmul peak {peak:.0f} GFLOP/s\n")
    print(f"{'convolutions':<22}{'stage':>6}{'n':>4}{'GFLOP':>8}{'channels-first':>22}{'channels-last':>22}")
    print("-" * 84)
    for (kind, stage), r in sorted(groups.items(), key=lambda kv: (kv[0][1] != "stem", kv[0][1], kv[0][0])):
        cells = [f"{1e3 * r[k]:7.1f} ms {r['gflop'] / r[k]:5.0f} GF/s" for k in ("ncw_s", "nhwc_s")]
        print(f"{kind:<22}{stage:>6}{r['n']:>4}{r['gflop']:>8.2f}{cells[0]:>22}{cells[1]:>22}")
    print("-" * 84)
    print(f"{'whole forward (eager, as shipped)':<52}{summary['forward_ms']:>8.1f} ms  "
          f"{100 * summary['forward_fraction_of_peak']:5.1f}% of peak")
    print(f"{'  of which convolutions, channels-first':<52}{summary['convs_channels_first_ms']:>8.1f} ms")
    print(f"{'  of which everything else':<52}{summary['outside_convs_ms']:>8.1f} ms")
    print(f"{'convolutions, all channels-last':<52}{summary['convs_channels_last_ms']:>8.1f} ms")
    print(f"{'convolutions, each in its faster layout':<52}{summary['convs_best_layout_each_ms']:>8.1f} ms")
    print(f"{'ceiling: only those, nothing else (% of peak)':<52}{100 * summary['ceiling_fraction_of_peak']:>8.1f} %")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "groups": {f"{k} {s}": v for (k, s), v in groups.items()},
                                    "layers": layers}, indent=1) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
