"""Writes tests/fixtures/train/train.safetensors: references for the training pieces, computed by torch
(float64 autograd for the losses), torch.optim (Adam, AdamW), torch.nn.utils.clip_grad_norm_ and timm's
adaptive_clip_grad. Re-run from the repository root (deterministic):

    .venv-ref/bin/python tools/ref/make_train_fixtures.py
"""

from pathlib import Path

import timm.utils.agc
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

OUT = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "train" / "train.safetensors"
B, N, E = 5, 12, 16


def cosine_case(out):
    s = torch.randn(B, E, dtype=torch.float32)
    t = torch.randn(B, E, dtype=torch.float32)
    s64 = s.double().requires_grad_()
    weight = 0.7
    loss = weight * (1 - F.cosine_similarity(s64, t.double(), dim=1, eps=1e-8)).mean()
    loss.backward()
    out.update(cos_s=s, cos_t=t, cos_loss=loss.detach().reshape(1), cos_grad=s64.grad)


def siglip_case(out):
    s = torch.randn(B, E, dtype=torch.float32)
    t = torch.randn(N, E, dtype=torch.float32)
    row_offset = 4  # this rank's students are targets 4 .. 4+B-1 of the global batch
    s64 = s.double().requires_grad_()
    cos = F.normalize(s64, dim=1) @ F.normalize(t.double(), dim=1).T
    labels = -torch.ones(B, N, dtype=torch.float64)
    labels[torch.arange(B), row_offset + torch.arange(B)] = 1
    loss = -F.logsigmoid(labels * (10 * cos - 10)).sum() / N
    loss.backward()
    out.update(sig_s=s, sig_t=t, sig_loss=loss.detach().reshape(1), sig_grad=s64.grad)


def adam_case(out, name, decoupled):
    p = torch.nn.Parameter(torch.randn(40))
    opt_cls = torch.optim.AdamW if decoupled else torch.optim.Adam
    opt = opt_cls([p], lr=1e-2, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1 if decoupled else 0.01)
    out[f"{name}_p0"] = p.detach().clone()
    lrs = [1e-2, 5e-3, 2e-2, 1e-3, 7e-3]
    for k, lr in enumerate(lrs):
        for group in opt.param_groups:
            group["lr"] = lr
        g = torch.randn(40)
        out[f"{name}_g{k}"] = g
        p.grad = g.clone()
        opt.step()
        out[f"{name}_p{k + 1}"] = p.detach().clone()
    out[f"{name}_lrs"] = torch.tensor(lrs, dtype=torch.float32)


def clip_case(out):
    g = torch.randn(64) * 3
    p = torch.nn.Parameter(torch.zeros(64))
    p.grad = g.clone()
    norm = torch.nn.utils.clip_grad_norm_([p], max_norm=1.5)
    out.update(clip_g=g, clip_norm=norm.reshape(1).float(), clip_out=p.grad.clone())


def agc_case(out):
    """Two tensors laid out flat like a parameter table: w1 [6, 5] and b1 [5]."""
    w1 = torch.nn.Parameter(torch.randn(6, 5) * 0.1)
    b1 = torch.nn.Parameter(torch.randn(5) * 0.01)
    w1.grad = torch.randn(6, 5)
    b1.grad = torch.randn(5) * 0.001
    b1.grad[0] = 1.0  # make the bias clip too
    w1.grad[2] *= 1e-4  # and one row stay unclipped
    out.update(agc_w=torch.cat([w1.detach().flatten(), b1.detach()]),
               agc_g=torch.cat([w1.grad.flatten(), b1.grad]).clone())
    timm.utils.agc.adaptive_clip_grad([w1, b1], clip_factor=0.02, eps=1e-3)
    out["agc_out"] = torch.cat([w1.grad.flatten(), b1.grad])


def main():
    torch.manual_seed(0)
    out = {}
    cosine_case(out)
    siglip_case(out)
    adam_case(out, "adamw", True)
    adam_case(out, "adam", False)
    clip_case(out)
    agc_case(out)
    save_file({k: v.float().contiguous() for k, v in out.items()}, OUT,
              metadata={"torch": torch.__version__, "timm": timm.__version__})
    print(f"wrote {OUT} ({len(out)} tensors)")


if __name__ == "__main__":
    main()
