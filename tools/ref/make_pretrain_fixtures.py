"""Writes the contrastive pretraining fixtures under tests/fixtures/pretrain/ with open_clip's own CLIP
model and ClipLoss, in float64. Re-run from the repository root (deterministic, CPU only, seconds):

    .venv-ref/bin/python tools/ref/make_pretrain_fixtures.py

What it writes (see docs/FIXTURES.md):
  pretrain-micro.json   a CLIP config in open_clip's schema, smaller than bcos-tiny (a 300-token vocabulary,
                        context 12, 16-px images) so that the weights, every gradient and the weights after
                        a few steps stay small enough to commit
  model.safetensors     its weights in open_clip naming (F32, values exact in F16), logit_scale included
  batch.safetensors     the batch (normalised images [B,3,16,16], token ids [B,12] as F32, each row's end-of-
                        text token the largest id), ClipLoss's loss on it, "grad.<name>" for every parameter
                        (logit_scale too), and for AdamW steps on the same batch (open_clip's parameter groups:
                        no decay for 1-d tensors and logit_scale; logit_scale clamped to [0, ln 100] after each
                        step, as open_clip's training loop does) the loss before each step ("step_loss") and
                        "after.<name>": the weights after the last step
"""

import json
import math
from pathlib import Path

import open_clip
import torch
import torch.nn.functional as F
from open_clip.loss import ClipLoss
from safetensors.torch import save_file

from make_clip_fixtures import f16_exact_nonzero, random_value

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "fixtures" / "pretrain"
CONFIG = {
    "embed_dim": 16,
    "quick_gelu": True,
    "vision_cfg": {"image_size": 16, "layers": 2, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 12, "vocab_size": 300, "width": 32, "heads": 2, "layers": 2},
}
NAME = "pretrain-micro"
B = 6
SEED = 2024
LRS = [2e-3, 1e-3, 5e-4]
ADAMW = {"betas": (0.9, 0.98), "eps": 1e-6, "weight_decay": 0.2}


def build_model():
    path = OUT / f"{NAME}.json"
    with open(path, "w") as f:
        json.dump(CONFIG, f, indent=4)
        f.write("\n")
    open_clip.add_model_config(path)
    model = open_clip.create_model(NAME, pretrained=None)
    with torch.no_grad():
        for pname, param in model.named_parameters():
            value = random_value(pname, tuple(param.shape))
            if pname == "logit_scale":
                value = torch.tensor(math.log(1 / 0.07))  # open_clip's initial temperature
            param.copy_(f16_exact_nonzero(value))
    return model.double().train()


def make_batch():
    images = torch.randn(B, 3, 16, 16, dtype=torch.float32)
    ctx, vocab = CONFIG["text_cfg"]["context_length"], CONFIG["text_cfg"]["vocab_size"]
    ids = torch.zeros(B, ctx, dtype=torch.long)
    for b in range(B):
        length = 3 + b % (ctx - 3)  # the end-of-text token at several positions, zero padding after
        ids[b, 0] = vocab - 2  # start of text
        ids[b, 1:length - 1] = torch.randint(1, vocab - 2, (length - 2,))
        ids[b, length - 1] = vocab - 1  # end of text: the largest id
    return images, ids


def loss_of(model, images, ids):
    img, txt, scale = model(images.double(), ids)  # features normalised, logit_scale.exp()
    return ClipLoss()(img, txt, scale)


def decayed(name, param):
    """open_clip's training: no weight decay for gains, biases, 1-d tensors and logit_scale."""
    return not (param.ndim < 2 or "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name)


def main():
    torch.manual_seed(SEED)
    model = build_model()
    images, ids = make_batch()
    weights = {k: v.float().contiguous() for k, v in model.state_dict().items() if k != "attn_mask"}
    save_file(weights, OUT / "model.safetensors", metadata={"bcos_model": NAME})
    out = {"images": images, "ids": ids.float()}
    loss = loss_of(model, images, ids)
    loss.backward()
    out["loss"] = loss.detach().reshape(1)
    for name, param in model.named_parameters():
        out[f"grad.{name}"] = param.grad.detach().clone()
    params = list(model.named_parameters())
    groups = [{"params": [p for n, p in params if decayed(n, p)], "weight_decay": ADAMW["weight_decay"]},
              {"params": [p for n, p in params if not decayed(n, p)], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=LRS[0], betas=ADAMW["betas"], eps=ADAMW["eps"])
    step_losses = []
    for lr in LRS:
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad()
        loss = loss_of(model, images, ids)
        step_losses.append(loss.item())
        loss.backward()
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
    out["step_loss"] = torch.tensor(step_losses)
    out["step_lr"] = torch.tensor(LRS)
    for name, param in model.named_parameters():
        out[f"after.{name}"] = param.detach().clone()
    meta = {"open_clip": open_clip.__version__, "torch": torch.__version__, "beta1": str(ADAMW["betas"][0]),
            "beta2": str(ADAMW["betas"][1]), "eps": str(ADAMW["eps"]), "weight_decay": str(ADAMW["weight_decay"])}
    save_file({k: v.float().contiguous() for k, v in out.items()}, OUT / "batch.safetensors", metadata=meta)
    print(f"wrote {OUT}: loss {out['loss'].item():.6f}, step losses {step_losses}")


if __name__ == "__main__":
    main()
