"""Throughput and peak memory of the spike transformer versus a plain ``nn.TransformerEncoderLayer``.

Both models use the paper profile (128 units, d_model 128, 32 heads, d_ff 512, 1 layer, dropout 0.1,
learned positions) at a context of 5000 bins, batch 1. The baseline is the straightforward PyTorch
version: ``nn.TransformerEncoderLayer(batch_first=True, norm_first=True)`` with an explicit float causal
mask (``nn.Transformer.generate_square_subsequent_mask``); its dropout also applies to the attention
probabilities, as ``nn.MultiheadAttention`` does. Ours uses ``scaled_dot_product_attention`` with
``is_causal=True`` and no attention-probability dropout (``attn_dropout=0``).

Every measurement runs in its own subprocess so that peak memory (``ru_maxrss`` minus the resident size
before the first step) is not polluted by another variant. The subprocess address space is capped
(``--mem-cap-gib``) so a variant that needs too much memory fails cleanly instead of waking the OOM killer.

Usage::

    python benchmarks/bench_transformer.py [--context 5000] [--threads 2] [--steps 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

VARIANTS = ("ours", "ours-bf16", "baseline")
MODES = ("train", "predict")


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _build(variant: str, context: int):
    import torch
    from torch import nn

    from spikebridge.models.spike_transformer import SpikeTransformer, SpikeTransformerConfig

    config = SpikeTransformerConfig.profile("paper", max_context=context)
    if variant.startswith("ours"):
        return SpikeTransformer(config), None

    class Baseline(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Linear(config.n_units, config.d_model)
            self.pos = nn.Parameter(torch.randn(context, config.d_model) * 0.02)
            self.layer = nn.TransformerEncoderLayer(
                config.d_model, config.n_heads, config.d_ff, config.dropout, batch_first=True, norm_first=True
            )
            self.norm = nn.LayerNorm(config.d_model)
            self.head = nn.Linear(config.d_model, config.n_units)

        def forward(self, x, mask):
            h = self.embed(x) + self.pos[: x.shape[1]]  # (B, T, D)
            return self.head(self.norm(self.layer(h, src_mask=mask)))  # (B, T, N)

    mask = nn.Transformer.generate_square_subsequent_mask(context)  # (T, T) float, -inf above diagonal
    return Baseline(), mask


def _measure(variant: str, mode: str, context: int, steps: int) -> dict:
    import torch

    torch.manual_seed(0)
    model, mask = _build(variant, context)
    x = (torch.rand(1, context, 128) < 0.02).float()  # (B, T, N)
    y = torch.roll(x, -1, dims=1)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=variant.endswith("bf16"))

    def run():
        args = (x,) if mask is None else (x, mask)
        if mode == "train":
            model.train()
            with autocast:
                logits = model(*args)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        else:
            model.eval()
            with torch.inference_mode(), autocast:
                model(*args)

    rss_before = _rss_mib()
    run()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        run()
    seconds = (time.perf_counter() - start) / steps
    return {"variant": variant, "mode": mode, "bins_per_s": context / seconds, "s_per_step": seconds,
            "peak_mib": _peak_mib() - rss_before}  # fmt: skip


def _child(args: argparse.Namespace) -> None:
    cap = int(args.mem_cap_gib * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    import torch

    torch.set_num_threads(args.threads)
    try:
        result = _measure(args.variant, args.mode, args.context, args.steps)
    except (MemoryError, RuntimeError) as exc:
        result = {
            "variant": args.variant,
            "mode": args.mode,
            "error": f"{type(exc).__name__}: {str(exc)[:120]}",
        }
    print(json.dumps(result))


def _run_child(variant: str, mode: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--child", "--variant", variant, "--mode", mode, "--context",
           str(args.context), "--threads", str(args.threads), "--steps", str(args.steps), "--mem-cap-gib",
           str(args.mem_cap_gib)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"variant": variant, "mode": mode, "error": f"exit {proc.returncode}: {proc.stderr[-200:]}"}
    return json.loads(lines[-1])


def _table(results: list[dict]) -> None:
    print(f"{'variant':<10} {'mode':<8} {'bins/s':>10} {'s/step':>8} {'peak MiB':>9}")
    for r in results:
        if "error" in r:
            print(f"{r['variant']:<10} {r['mode']:<8} failed: {r['error']}")
        else:
            print(f"{r['variant']:<10} {r['mode']:<8} {r['bins_per_s']:>10.0f} {r['s_per_step']:>8.3f} "
                  f"{r['peak_mib']:>9.0f}")  # fmt: skip
    by_key = {(r["variant"], r["mode"]): r for r in results if "error" not in r}
    for mode in MODES:
        base = by_key.get(("baseline", mode))
        for variant in ("ours", "ours-bf16"):
            ours = by_key.get((variant, mode))
            if base and ours:
                print(f"{mode:<8} {variant:<10} / baseline: throughput x{ours['bins_per_s'] / base['bins_per_s']:.2f}, "
                      f"peak memory x{ours['peak_mib'] / max(base['peak_mib'], 1):.3f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--context", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--mem-cap-gib", type=float, default=14.0)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    print(
        f"context {args.context}, batch 1, threads {args.threads}, {args.steps} timed steps after 1 warm-up"
    )
    results = [_run_child(v, m, args) for m in MODES for v in args.variants.split(",")]
    _table(results)


if __name__ == "__main__":
    main()
