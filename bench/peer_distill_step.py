"""Peer for bench_distill_step: the same step in PyTorch (fp32, eager): the open_clip teacher forward
without grad, the B-cos student of tools/ref/make_student_fixtures.py (written from docs/METHOD.md's formulas
with the official bcos package's pieces) forward and backward, the cosine loss, AdamW.
Usage: peer_distill_step.py MODEL BATCH ITERS THREADS (MODEL: a config of src/model/configs, QuickGELU)."""
import json
import statistics
import sys
import time
from pathlib import Path

import open_clip
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools" / "ref"))
from make_student_fixtures import BcosStudent  # noqa: E402


def main():
    model_name, batch, iters, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    config_path = REPO / "src" / "model" / "configs" / f"{model_name}.json"
    cfg = json.loads(config_path.read_text())
    cfg["vision_cfg"].setdefault("head_width", 64)  # open_clip's default, which the real configs leave out
    open_clip.add_model_config(config_path)
    teacher = open_clip.create_model(model_name, pretrained=None).eval()
    student = BcosStudent(cfg, keep_biases=False, plain_proj=False)
    student.set_exponent_and_bias_scale(2.0, 0.0)
    for p in student.parameters():
        torch.nn.init.normal_(p, std=0.02)
    opt = torch.optim.AdamW(student.parameters(), lr=1e-4, weight_decay=0)
    size = cfg["vision_cfg"]["image_size"]
    x6 = torch.rand(batch, 6, size, size)
    img = torch.randn(batch, 3, size, size)
    times = []
    for i in range(iters + 1):  # the first step warms up
        t0 = time.perf_counter()
        with torch.no_grad():
            target = teacher.encode_image(img)
        loss = (1 - F.cosine_similarity(student(x6), target, dim=1)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    print(f"torch {model_name} distill step: batch {batch}, median {median:.3f} s, {batch / median:.2f} img/s "
          f"(torch {torch.__version__}, {threads} threads)")


if __name__ == "__main__":
    main()
