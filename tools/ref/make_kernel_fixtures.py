"""Reference outputs and gradients of the CPU kernels, computed by PyTorch in float64.

Writes tests/fixtures/kernels/index.json and kernels.bin (the format of tools/ref/fixture_bin.py),
read by tests/golden/test_kernels_torch.c. Inputs are drawn in float32; every reference is computed
in float64 from those exact values (autograd for the gradients of L = sum(out * dout)) and then
rounded to float32.

The references are the libraries themselves: torch.native_layer_norm, torch.nn.MultiheadAttention
with the additive -inf causal mask open_clip builds, open_clip's QuickGELU, torch's erf GELU,
torch.nn.functional.linear and conv2d (the patch embedding).

Re-run from the repository root (deterministic, fixed seed):
    .venv-ref/bin/python tools/ref/make_kernel_fixtures.py
"""
import os

import torch
import torch.nn.functional as F
from open_clip.transformer import QuickGELU

from fixture_bin import Fixture, backward, float32_input

OUT_DIR = os.path.join("tests", "fixtures", "kernels")


def layernorm(fx, name, with_bias):
    N, C, eps = 6, 16, 1e-5
    x = float32_input(N, C, scale=2.0, shift=0.5)
    w = float32_input(C)
    b = float32_input(C) if with_bias else None
    out, mean, rstd = torch.native_layer_norm(x, [C], w, b, eps)
    backward(out, fx, name)
    fx.params[name] = {"N": N, "C": C, "eps": eps}
    fx.add(name + ".x", x)
    fx.add(name + ".weight", w)
    fx.add(name + ".out", out)
    fx.add(name + ".mean", mean.reshape(N))
    fx.add(name + ".rstd", rstd.reshape(N))
    fx.add(name + ".dx", x.grad)
    fx.add(name + ".dweight", w.grad)
    if with_bias:
        fx.add(name + ".bias", b)
        fx.add(name + ".dbias", b.grad)


def identity_attention(C, NH):
    """MultiheadAttention whose projections are identities, so it attends over q, k, v as given."""
    mha = torch.nn.MultiheadAttention(C, NH, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.eye(C, dtype=torch.float64).repeat(3, 1))
        mha.in_proj_bias.zero_()
        mha.out_proj.weight.copy_(torch.eye(C, dtype=torch.float64))
        mha.out_proj.bias.zero_()
    return mha


def causal_mask(T):
    """open_clip's text mask: additive, -inf above the diagonal."""
    return torch.full((T, T), float("-inf"), dtype=torch.float64).triu_(1)


def attention(fx, name, causal):
    B, T, NH, C = 2, 7, 3, 12
    q, k, v = float32_input(B, T, C), float32_input(B, T, C), float32_input(B, T, C)
    mask = causal_mask(T) if causal else None
    out, att = identity_attention(C, NH)(q, k, v, attn_mask=mask, need_weights=True, average_attn_weights=False)
    backward(out, fx, name)
    fx.params[name] = {"B": B, "T": T, "C": C, "NH": NH, "causal": int(causal)}
    fx.add(name + ".qkv", torch.cat([q, k, v], dim=-1))
    fx.add(name + ".out", out)
    fx.add(name + ".att", att)
    fx.add(name + ".dqkv", torch.cat([q.grad, k.grad, v.grad], dim=-1))


def activation(fx, name, fn):
    n = 64
    x = float32_input(n, scale=3.0)
    out = fn(x)
    backward(out, fx, name)
    fx.params[name] = {"n": n}
    fx.add(name + ".x", x)
    fx.add(name + ".out", out)
    fx.add(name + ".dx", x.grad)


def matmul(fx):
    N, IC, OC = 5, 12, 7
    x, w, b = float32_input(N, IC), float32_input(OC, IC), float32_input(OC)
    out = F.linear(x, w, b)
    backward(out, fx, "matmul")
    fx.params["matmul"] = {"N": N, "IC": IC, "OC": OC}
    for key, t in [("x", x), ("weight", w), ("bias", b), ("out", out)]:
        fx.add("matmul." + key, t)
    for key, t in [("dx", x.grad), ("dweight", w.grad), ("dbias", b.grad)]:
        fx.add("matmul." + key, t)


def patch_conv(fx):
    """The patch embedding: a stride-P conv without bias, its output as tokens [B, NP, OC]."""
    B, Cin, H, W, P, OC = 2, 3, 6, 8, 2, 5
    img, w = float32_input(B, Cin, H, W), float32_input(OC, Cin, P, P)
    out = F.conv2d(img, w, stride=P).flatten(2).transpose(1, 2)
    backward(out, fx, "patch_conv")
    fx.params["patch_conv"] = {"B": B, "Cin": Cin, "H": H, "W": W, "P": P, "OC": OC}
    for key, t in [("img", img), ("weight", w), ("out", out), ("dimg", img.grad), ("dweight", w.grad)]:
        fx.add("patch_conv." + key, t)


def main():
    torch.manual_seed(0)
    fx = Fixture()
    layernorm(fx, "layernorm", with_bias=True)
    layernorm(fx, "layernorm_nobias", with_bias=False)
    attention(fx, "attention", causal=False)
    attention(fx, "attention_causal", causal=True)
    activation(fx, "quickgelu", QuickGELU())
    activation(fx, "gelu", lambda x: F.gelu(x, approximate="none"))
    matmul(fx)
    patch_conv(fx)
    fx.write(OUT_DIR, "kernels.bin")


if __name__ == "__main__":
    main()
