"""PyTorch peer of the GPU distill step: a B-cosified ViT-B/16 student distilled against a frozen CLIP ViT-B/16
teacher at batch 256 on synthetic input, one optimiser step per iteration, written from docs/METHOD.md:

  teacher   open_clip's ViT-B/16 image tower (patch conv, class and positional embeddings, ln_pre, 12 pre-norm
            blocks of multi-head attention and a GELU MLP with biases, ln_post, projection to 512), no grad
  student   the same shape, B-cosified: conv1 a B-cos patch unit on x6 = [u, 1 - u] (norm over each 6x16x16
            window, sqrt(sum x^2 + 1e-6)); LayerNorms without beta; q, k, v a plain bias-free linear map;
            attention out, MLP fc1, fc2 and the projection B-cos units z = w.x, n = |x| + 1e-12,
            y = (|z|/n + 1e-6)^(B-1) z with B = 2, no biases
  loss      1 - cosine(student, teacher) averaged over the batch; AdamW (fp32 master weights and moments)

Modes, each timed after warm-up and appended to OUT/peer.jsonl as soon as it is known: fp32 (eager),
bf16 (eager, autocast: bf16 matmuls, fp32 weights), compile (torch.compile of both towers, bf16 autocast) and
compile-student (the teacher's embeddings cached: the student's step alone). Self-contained (no open_clip, no
bcos package), since the GPU machine has neither. --tiny runs a two-layer width-64 model at 32x32 for checking
the script on a CPU.
Usage: peer_gpu_distill.py [--device cuda] [--batch 256] [--iters 10] [--warmup 3] [--modes fp32,bf16,compile,
compile-student] [--out DIR] [--tiny]"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

TOKEN_NORM_EPS, WINDOW_NORM_EPS, COS_EPS, LN_EPS = 1e-12, 1e-6, 1e-6, 1e-5


def bcos_scale(z, n, b):
    return (z.abs() / n + COS_EPS) ** (b - 1) * z


class BcosUnit(nn.Module):
    def __init__(self, inp, out, b=2.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out, inp) * inp ** -0.5)
        self.b = b

    def forward(self, x):
        n = torch.linalg.vector_norm(x, dim=-1, keepdim=True) + TOKEN_NORM_EPS
        return bcos_scale(F.linear(x, self.weight), n, self.b)


class BcosPatchUnit(nn.Module):
    def __init__(self, width, patch, b=2.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(width, 6, patch, patch) * (6 * patch * patch) ** -0.5)
        self.register_buffer("window", torch.ones(1, 6, patch, patch), persistent=False)
        self.patch, self.b = patch, b

    def forward(self, x6):
        z = F.conv2d(x6, self.weight, stride=self.patch)
        n = torch.sqrt(F.conv2d(x6 * x6, self.window.to(x6.dtype), stride=self.patch) + WINDOW_NORM_EPS)
        return bcos_scale(z, n, self.b).flatten(2).transpose(1, 2)


def attention(qkv, heads):
    B, T, C3 = qkv.shape
    q, k, v = qkv.view(B, T, 3, heads, C3 // 3 // heads).permute(2, 0, 3, 1, 4)
    return F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, T, C3 // 3)


class Block(nn.Module):
    """Pre-norm block; bcos: B-cos units and beta-free LayerNorms, else CLIP's plain block with biases."""

    def __init__(self, width, heads, mlp, bcos):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(width, eps=LN_EPS, bias=not bcos)
        self.ln_2 = nn.LayerNorm(width, eps=LN_EPS, bias=not bcos)
        self.qkv = nn.Linear(width, 3 * width, bias=not bcos)
        unit = BcosUnit if bcos else nn.Linear
        self.out, self.fc1, self.fc2 = unit(width, width), unit(width, mlp), unit(mlp, width)

    def forward(self, x):
        x = x + self.out(attention(self.qkv(self.ln_1(x)), self.heads))
        return x + self.fc2(F.gelu(self.fc1(self.ln_2(x))))


class Tower(nn.Module):
    def __init__(self, cfg, bcos):
        super().__init__()
        w, p, grid = cfg["width"], cfg["patch"], cfg["image"] // cfg["patch"]
        self.bcos = bcos
        self.conv1 = BcosPatchUnit(w, p) if bcos else nn.Conv2d(3, w, p, stride=p, bias=False)
        self.cls = nn.Parameter(torch.randn(w) * 0.02)
        self.pos = nn.Parameter(torch.randn(grid * grid + 1, w) * 0.02)
        self.ln_pre = nn.LayerNorm(w, eps=LN_EPS, bias=not bcos)
        self.blocks = nn.ModuleList(Block(w, w // 64 if w >= 64 else 1, 4 * w, bcos) for _ in range(cfg["layers"]))
        self.ln_post = nn.LayerNorm(w, eps=LN_EPS, bias=not bcos)
        self.proj = BcosUnit(w, cfg["embed"]) if bcos else nn.Linear(w, cfg["embed"], bias=False)

    def forward(self, x):
        tokens = self.conv1(x) if self.bcos else self.conv1(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(tokens.shape[0], 1, -1).to(tokens.dtype), tokens], 1) + self.pos
        x = self.ln_pre(x)
        for block in self.blocks:
            x = block(x)
        return self.proj(self.ln_post(x[:, 0]))


VIT_B16 = {"width": 768, "patch": 16, "image": 224, "layers": 12, "embed": 512}
TINY = {"width": 64, "patch": 16, "image": 32, "layers": 2, "embed": 32}


def make_step(teacher, student, dtype, cached):
    """Forward and backward of one step (the part torch.compile takes); the optimiser runs after it."""
    def step(img, x6, t_cached):
        with torch.autocast(img.device.type, dtype=dtype, enabled=dtype != torch.float32):
            if cached:
                t = t_cached
            else:
                with torch.no_grad():
                    t = teacher(img)
            s = student(x6)
            loss = 1 - F.cosine_similarity(s.float(), t.float(), dim=-1).mean()
        loss.backward()
        return loss

    return step


def run_mode(mode, cfg, args, device):
    torch.manual_seed(1)
    teacher = Tower(cfg, bcos=False).to(device).eval().requires_grad_(False)
    student = Tower(cfg, bcos=True).to(device)
    opt = torch.optim.AdamW(student.parameters(), lr=1e-4, weight_decay=0.0, fused=device.type == "cuda")
    dtype = torch.float32 if mode == "fp32" else torch.bfloat16
    cached = mode == "compile-student"
    step = make_step(teacher, student, dtype, cached)
    if mode.startswith("compile"):
        step = torch.compile(step)
    B, S = args.batch, cfg["image"]
    img = torch.randn(B, 3, S, S, device=device)
    u = torch.rand(B, 3, S, S, device=device)
    x6 = torch.cat([u, 1 - u], 1)
    with torch.no_grad():
        t_cached = teacher(img).detach() if cached else None

    def one():
        loss = step(img, x6, t_cached)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(args.warmup):
        loss = one()
    sync()
    warm_s = time.perf_counter() - t0
    times = []
    for _ in range(args.iters):
        t0 = time.perf_counter()
        loss = one()
        sync()
        times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    if not math.isfinite(loss.item()):
        raise SystemExit(f"peer {mode}: the loss is {loss.item()}")
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None
    return {"mode": mode, "batch": B, "img_per_s": B / median, "median_s": median, "warmup_s": warm_s,
            "peak_gib": peak, "loss": loss.item(), "iters": args.iters, "device": str(device),
            "card": torch.cuda.get_device_name() if device.type == "cuda" else "cpu", "torch": torch.__version__,
            "model": "tiny" if args.tiny else "ViT-B/16"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--modes", default="fp32,bf16,compile,compile-student")
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--tiny", action="store_true")
    args = ap.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("peer: no CUDA device for torch")
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32, as in the C backend's fp32 mode
    torch.backends.cudnn.allow_tf32 = False
    cfg = TINY if args.tiny else VIT_B16
    for mode in args.modes.split(","):
        if mode not in ("fp32", "bf16", "compile", "compile-student"):
            raise SystemExit(f"peer: unknown mode {mode}")
        result = run_mode(mode, cfg, args, device)
        path = os.path.join(args.out, "peer.jsonl")
        with open(path, "a") as f:
            f.write(json.dumps(result) + "\n")
        peak = "n/a" if result["peak_gib"] is None else f"{result['peak_gib']:.2f} GiB"
        print(f"peer {mode}: {result['img_per_s']:.1f} img/s (median {result['median_s'] * 1e3:.1f} ms, "
              f"peak {peak}) -> {path}", flush=True)
        if device.type == "cuda":
            torch.cuda.empty_cache()


if __name__ == "__main__":
    sys.exit(main())
