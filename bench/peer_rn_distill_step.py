"""Peer for bench_distill_step on a ResNet config: the same step in PyTorch (fp32, eager): open_clip's
ModifiedResNet teacher forward without grad, the B-cos ResNet student of tools/ref/make_rn_student_fixtures.py
(the bcos package's uncentered BatchNorm and window norm, the reference's B-cos attention pool) in training
mode, forward and backward, the cosine loss, AdamW. Usage: peer_rn_distill_step.py MODEL BATCH ITERS THREADS
(MODEL: a ResNet config of src/model/configs, e.g. RN50)."""
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from open_clip.modified_resnet import ModifiedResNet

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools" / "ref"))
from make_rn_student_fixtures import RnStudent  # noqa: E402


def main():
    model_name, batch, iters, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    cfg = json.loads((REPO / "src" / "model" / "configs" / f"{model_name}.json").read_text())
    v = cfg["vision_cfg"]
    teacher = ModifiedResNet(layers=v["layers"], output_dim=cfg["embed_dim"], image_size=v["image_size"],
                             width=v["width"], heads=v["width"] * 32 // v.get("head_width", 64)).eval()
    student = RnStudent(teacher, keep_biases=False, keep_pos=False, bcos_c_proj=False).train()
    student.set_exponent_and_bias_scale(2.0, 0.0)
    opt = torch.optim.AdamW(student.parameters(), lr=1e-4, weight_decay=0)
    size = v["image_size"]
    x6 = torch.rand(batch, 6, size, size)
    img = torch.randn(batch, 3, size, size)
    times = []
    for i in range(iters + 1):  # the first step warms up
        t0 = time.perf_counter()
        with torch.no_grad():
            target = teacher(img)
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
