"""Where explanations land, from the PREFIX-contributions.safetensors files that `bcos explain` writes:
for each file, the sum of its contribution map, the share of the positive contribution that falls on the
object (the pixels the student saw that are not black: a garment of Fashion-MNIST on its black
background) and the object's share of the image's area; then the means over the files.
Usage: python3 contributions.py FILE.safetensors... (standard library only)."""
import array
import json
import struct
import sys


def read_safetensors(path):
    with open(path, "rb") as f:
        header_len = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(header_len))
        data = f.read()
    tensors = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", f"{path}: {name} is {t['dtype']}"
        values = array.array("f")
        begin, end = t["data_offsets"]
        values.frombytes(data[begin:end])
        tensors[name] = (t["shape"], values)
    return tensors


def measure(path):
    t = read_safetensors(path)
    (height, width), contribution = t["contribution"]
    pixels = t["pixels"][1]
    n = height * width
    on_object = [pixels[3 * p] + pixels[3 * p + 1] + pixels[3 * p + 2] > 0 for p in range(n)]
    positive = sum(max(c, 0.0) for c in contribution)
    positive_on_object = sum(max(c, 0.0) for c, o in zip(contribution, on_object) if o)
    return sum(contribution), positive_on_object / positive, sum(on_object) / n


def main():
    shares, areas = [], []
    for path in sys.argv[1:]:
        total, share, area = measure(path)
        shares.append(share)
        areas.append(area)
        print(f"{path}\tsum {total:.6f}\tpositive on object {share:.4f}\tobject area {area:.4f}")
    print(f"mean\tpositive on object {sum(shares) / len(shares):.4f}\tobject area {sum(areas) / len(areas):.4f}")


if __name__ == "__main__":
    main()
