"""Peer for bench_vit_forward: open_clip's image tower forward in PyTorch (fp32, no grad) with random
weights, median images per second. Usage: peer_vit_forward.py MODEL BATCH ITERS THREADS."""
import statistics
import sys
import time

import open_clip
import torch


def main():
    model_name, batch, iters, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    model = open_clip.create_model(model_name, pretrained=None).eval()
    size = model.visual.image_size[0] if isinstance(model.visual.image_size, tuple) else model.visual.image_size
    images = torch.randn(batch, 3, size, size)
    with torch.no_grad():
        model.encode_image(images)
        times = []
        for _ in range(iters):
            t0 = time.perf_counter()
            model.encode_image(images)
            times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    print(f"torch {model_name} forward: batch {batch}, median {median:.3f} s, {batch / median:.2f} img/s "
          f"(torch {torch.__version__}, {threads} threads)")


if __name__ == "__main__":
    main()
