"""Load a B-cos student written by `bcos distill` into PyTorch and embed images with it.

The student file is a whole CLIP in open_clip naming whose image tower is B-cos: `visual.*` tensors (conv1 with
six input channels, no biases unless kept) plus the teacher's text tower, with the CLIP config
("bcos_clip_config"), the B-cos options ("bcos_student"), the file's version ("bcos_student_version") and the step
it was saved at with that step's B and bias scale ("bcos_student_step") in its safetensors metadata. This script
  1. builds the reference torch student of tools/ref/make_student_fixtures.py (BcosStudent: the official B-cos
     v2 package's blocks and norms, B-cos units written from the formulas) from the file's own metadata;
  2. copies every visual.* tensor into it by name (visual.proj is stored as open_clip's [width, embed], the torch
     reference holds the Linear weight [embed, width]) and checks that none is missing or left over;
  3. embeds each image as bcos does: PIL bicubic resize of the shorter side to the image size, centre crop
     (torchvision's Resize and CenterCrop), pixels u in [0, 1], input x6 = [u, 1 - u], with the B and the bias
     scale of the step the file was saved at (a version 1 file, which records no step, with the end of its B ramp
     and bias decay, as bcos loads it);
  4. prints each embedding, and with --compare E.safetensors (from
     `bcos encode-image --weights STUDENT --out E.safetensors IMAGE...`, same images in the same order) the
     relative error max|torch - bcos| / max|bcos| per image; exit status 1 above --tolerance.

A ResNet student (a config whose vision_cfg.layers is four numbers) is built as make_rn_student_fixtures.py's
RnStudent, its BatchNorm running variances (visual.*.running_var) copied beside its weights and used in evaluation
mode. The reference ViT student (make_student_fixtures.py) has QuickGELU towers (OpenAI-style configs, bcos-tiny) and exact
GELU towers (LAION's: ViT-B-16, ViT-B-32 and ViT-L-14 without -quickgelu, bcos-tiny-gelu). It runs in float64 by
default (--float32 to run as stored).

    build/bcos encode-image --weights out/student.safetensors --out /tmp/e.safetensors photo.jpg
    .venv-ref/bin/python tools/ref/load_student.py out/student.safetensors photo.jpg \
        --compare /tmp/e.safetensors
"""
import argparse
import json
import sys
from pathlib import Path

import torch
from PIL import Image
from safetensors import safe_open
from torchvision.transforms import CenterCrop, InterpolationMode, Resize, ToTensor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_student_fixtures import BcosStudent  # noqa: E402  (the reference student, one file beside this)
from make_rn_student_fixtures import RnStudent  # noqa: E402  (the ResNet one)
from open_clip.modified_resnet import ModifiedResNet  # noqa: E402


STUDENT_VERSIONS = ("2", "3")  # up to BCOS_STUDENT_VERSION of include/bcos/student.h


def saved_b_and_bias_scale(path, meta, options):
    """The B and bias scale the weights were saved with: their step's (version 2), or for a version 1 file the
    end of the B ramp and bias decay (bcos_student_b_at and bcos_student_bias_scale_at at INT64_MAX)."""
    version = meta.get("bcos_student_version")
    if version is None:
        end_scale = 0.0 if not options["keep_biases"] else 1.0 if options["bias_decay_steps"] <= 0 else 0.0
        return options["b"], end_scale
    if version not in STUDENT_VERSIONS:
        raise SystemExit(f"{path}: student file version '{version}' is not one this script reads (1 to 3)")
    step = json.loads(meta["bcos_student_step"])
    return step["b"], step["bias_scale"]


def torch_student(cfg, options):
    """The reference student of the file's config: a ResNet's (its shapes from open_clip's ModifiedResNet) or a
    ViT's."""
    v = cfg["vision_cfg"]
    if not isinstance(v["layers"], list):
        return BcosStudent(cfg, options["keep_biases"], options["plain_proj"])
    shapes = ModifiedResNet(layers=v["layers"], output_dim=cfg["embed_dim"], image_size=v["image_size"],
                            width=v["width"], heads=v["width"] * 32 // v.get("head_width", 64))
    return RnStudent(shapes, options["keep_biases"], options.get("keep_pos", False), options.get("bcos_c_proj", False))


def load_student(path, dtype):
    """The torch student with the file's weights, and its image size."""
    with safe_open(path, "pt") as f:
        meta = f.metadata() or {}
        if "bcos_student" not in meta or "bcos_clip_config" not in meta:
            raise SystemExit(f"{path}: not a B-cos student (no 'bcos_student' metadata; was it written by bcos distill?)")
        cfg = json.loads(meta["bcos_clip_config"])
        options = json.loads(meta["bcos_student"])
        student = torch_student(cfg, options)
        params = student.named_like_c()
        if isinstance(student, RnStudent):
            params.update(student.running_vars())
        visual = {k for k in f.keys() if k.startswith("visual.")}
        missing, extra = sorted(set(params) - visual), sorted(visual - set(params))
        if missing or extra:
            raise SystemExit(f"{path}: tensors missing {missing}, not in the student {extra}")
        with torch.no_grad():
            for name, param in params.items():
                value = f.get_tensor(name)
                param.copy_(value.T if name == "visual.proj" else value)
    student.set_exponent_and_bias_scale(*saved_b_and_bias_scale(path, meta, options))
    return student.to(dtype).eval(), cfg["vision_cfg"]["image_size"]


def x6_of(image_path, size, dtype):
    """[1, 6, S, S]: [u, 1 - u] of the centre crop, as bcos_clip_eval_crop and bcos_x6_from_crop make it."""
    image = Image.open(image_path).convert("RGB")
    crop = CenterCrop(size)(Resize(size, interpolation=InterpolationMode.BICUBIC)(image))
    u = ToTensor()(crop).to(dtype)
    return torch.cat([u, 1 - u]).unsqueeze(0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("student", help="a student .safetensors written by bcos distill")
    parser.add_argument("images", nargs="+")
    parser.add_argument("--compare", help="embeddings from `bcos encode-image --out` for the same images")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="largest relative error accepted")
    parser.add_argument("--float32", action="store_true", help="run in float32 instead of float64")
    args = parser.parse_args()
    dtype = torch.float32 if args.float32 else torch.float64
    student, size = load_student(args.student, dtype)
    with torch.no_grad():
        emb = torch.cat([student(x6_of(p, size, dtype)) for p in args.images])
    for path, row in zip(args.images, emb):
        print(path + "\t" + " ".join(f"{v:.7g}" for v in row.tolist()))
    if not args.compare:
        return 0
    with safe_open(args.compare, "pt") as f:
        ours = f.get_tensor("image_embeddings").to(dtype)
    if ours.shape != emb.shape:
        raise SystemExit(f"{args.compare}: shape {list(ours.shape)}, torch made {list(emb.shape)}")
    worst = 0.0
    for path, a, b in zip(args.images, emb, ours):
        err = ((a - b).abs().max() / b.abs().max()).item()
        worst = max(worst, err)
        print(f"{path}: relative error to bcos {err:.2e}", file=sys.stderr)
    ok = worst <= args.tolerance
    print(f"{'ok' if ok else 'FAIL'}: largest relative error {worst:.2e} (tolerance {args.tolerance:g})", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
