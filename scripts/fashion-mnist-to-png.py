#!/usr/bin/env python3
# fashion-mnist-to-png.py — write Debian's dataset-fashion-mnist (gzip'd idx
# files) out as image folders ROOT/{train,test}/<class>/<i>.png, the layout
# `nnkit finetune --data` reads. Python standard library only.
import argparse
import gzip
import os
import struct
import sys
import zlib

CLASSES = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
           "Shirt", "Sneaker", "Bag", "Ankle_boot"]
DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"


def read_idx(path, magic_want):
    with gzip.open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        sys.exit(f"{path}: {len(data)} bytes, too short for an idx header")
    magic, n = struct.unpack(">II", data[:8])
    if magic != magic_want:
        sys.exit(f"{path}: magic {magic:#x}, expected {magic_want:#x}")
    if magic == 0x803:
        rows, cols = struct.unpack(">II", data[8:16])
        size = rows * cols
        if len(data) != 16 + n * size:
            sys.exit(f"{path}: {len(data)} bytes, expected {16 + n * size}")
        return [data[16 + i * size:16 + (i + 1) * size] for i in range(n)], rows, cols
    if len(data) != 8 + n:
        sys.exit(f"{path}: {len(data)} bytes, expected {8 + n}")
    return list(data[8:]), 0, 0


def png_gray(pixels, w, h):
    def chunk(tag, body):
        c = struct.pack(">I", len(body)) + tag + body
        return c + struct.pack(">I", zlib.crc32(tag + body) & 0xffffffff)
    raw = b"".join(b"\x00" + pixels[y * w:(y + 1) * w] for y in range(h))
    return (b"\x89PNG\r\n\x1a\n" +
            chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def find_dir():
    try:
        import subprocess
        out = subprocess.run(["dpkg", "-L", "dataset-fashion-mnist"],
                             capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.endswith("train-images-idx3-ubyte.gz"):
                return os.path.dirname(line)
    except OSError:
        pass
    return DEFAULT_DIR


def write_split(src, split, prefix, out, limit, classes):
    images, rows, cols = read_idx(os.path.join(src, f"{prefix}-images-idx3-ubyte.gz"), 0x803)
    labels, _, _ = read_idx(os.path.join(src, f"{prefix}-labels-idx1-ubyte.gz"), 0x801)
    if len(images) != len(labels):
        sys.exit(f"{prefix}: {len(images)} images but {len(labels)} labels")
    counts = [0] * len(CLASSES)
    for c in classes:
        os.makedirs(os.path.join(out, split, CLASSES[c]), exist_ok=True)
    for i, (img, lab) in enumerate(zip(images, labels)):
        if lab >= len(CLASSES):
            sys.exit(f"{prefix}: label {lab} at {i}, expected 0..9")
        if lab not in classes or (limit and counts[lab] >= limit):
            continue
        counts[lab] += 1
        path = os.path.join(out, split, CLASSES[lab], f"{i:05d}.png")
        with open(path + ".tmp", "wb") as f:
            f.write(png_gray(img, cols, rows))
        os.replace(path + ".tmp", path)
    return sum(counts)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", help="output root (gets train/ and test/)")
    ap.add_argument("--src", default=None, help="folder of the .gz idx files")
    ap.add_argument("--limit", type=int, default=0,
                    help="at most this many images per class and split")
    ap.add_argument("--test-limit", type=int, default=None,
                    help="per-class limit for test/ (default: --limit)")
    ap.add_argument("--classes", default="0-9",
                    help="class indices to write, e.g. 0-4 or 5,6,7")
    a = ap.parse_args()
    classes = set()
    for part in a.classes.split(","):
        lo, _, hi = part.partition("-")
        classes.update(range(int(lo), int(hi or lo) + 1))
    src = a.src or find_dir()
    done = os.path.join(a.out, ".complete-" + a.classes + f"-{a.limit}-{a.test_limit}")
    if os.path.exists(done):
        print(f"{a.out}: already written")
        return
    tl = a.limit if a.test_limit is None else a.test_limit
    n_train = write_split(src, "train", "train", a.out, a.limit, classes)
    n_test = write_split(src, "test", "t10k", a.out, tl, classes)
    open(done, "w").close()
    print(f"{a.out}: {n_train} train and {n_test} test images, "
          f"{len(classes)} classes")


if __name__ == "__main__":
    main()
