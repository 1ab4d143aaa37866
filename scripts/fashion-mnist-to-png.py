#!/usr/bin/env python3
# fashion-mnist-to-png.py — turns the Fashion-MNIST idx files that Debian's
# dataset-fashion-mnist package installs into PNG images (standard library
# only: gzip, struct, zlib), as samples or as a ROOT/<class>/<index>.png tree.
"""Convert Fashion-MNIST (Debian package dataset-fashion-mnist) to PNG.

  fashion-mnist-to-png.py samples OUTDIR [--split test] [--count N | --index I ...]
      writes OUTDIR/<split>-<index>-<class>.png
  fashion-mnist-to-png.py folder ROOT [--split train|test] [--per-class N]
      writes ROOT/<class>/<index>.png (the layout `nnkit finetune --data`
      and `nnkit eval --data` read), at most N images per class

Images are 28x28 8-bit grayscale (or RGB with --rgb).  The idx files are
found with `dpkg -L dataset-fashion-mnist` (override with --data-dir).
"""
import argparse
import gzip
import os
import struct
import subprocess
import sys
import zlib

CLASSES = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot"]
DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
PREFIX = {"train": "train", "test": "t10k"}


def fail(msg):
    sys.exit("fashion-mnist-to-png.py: " + msg)


def find_data_dir():
    """Directory holding the idx files, from the package's file list."""
    try:
        out = subprocess.run(["dpkg", "-L", "dataset-fashion-mnist"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True, check=False).stdout
    except OSError:
        out = ""
    for line in out.splitlines():
        if line.endswith("/t10k-images-idx3-ubyte.gz"):
            return os.path.dirname(line)
    if os.path.exists(os.path.join(DEFAULT_DIR, "t10k-images-idx3-ubyte.gz")):
        return DEFAULT_DIR
    fail("dataset-fashion-mnist is not installed (apt-get install "
         "dataset-fashion-mnist, or pass --data-dir)")


def read_idx(path, want_magic, want_ndim):
    """Return (dims, payload bytes) of a gzip'd idx file, checking its header."""
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        fail("%s: %s" % (path, e))
    if len(data) < 4:
        fail("%s: %d bytes, too short for an idx header" % (path, len(data)))
    magic = struct.unpack(">I", data[:4])[0]
    if magic != want_magic:
        fail("%s: idx magic 0x%08x, expected 0x%08x" % (path, magic, want_magic))
    head = 4 + 4 * want_ndim
    if len(data) < head:
        fail("%s: %d bytes, too short for %d dimensions" % (path, len(data), want_ndim))
    dims = struct.unpack(">%dI" % want_ndim, data[4:head])
    n = 1
    for d in dims:
        n *= d
    if len(data) - head != n:
        fail("%s: payload has %d bytes, expected %d for dims %s"
             % (path, len(data) - head, n, list(dims)))
    return dims, data[head:]


def load_split(data_dir, split):
    prefix = PREFIX[split]
    img_path = os.path.join(data_dir, prefix + "-images-idx3-ubyte.gz")
    lab_path = os.path.join(data_dir, prefix + "-labels-idx1-ubyte.gz")
    (n, rows, cols), pixels = read_idx(img_path, 0x00000803, 3)
    (m,), labels = read_idx(lab_path, 0x00000801, 1)
    if n != m:
        fail("%s has %d images but %s has %d labels" % (img_path, n, lab_path, m))
    for i, lab in enumerate(labels):
        if lab >= len(CLASSES):
            fail("%s: label %d of image %d, expected 0..%d"
                 % (lab_path, lab, i, len(CLASSES) - 1))
    return n, rows, cols, pixels, labels


def png_chunk(kind, payload):
    crc = zlib.crc32(kind + payload) & 0xffffffff
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def encode_png(gray, width, height, rgb):
    """PNG bytes for 8-bit grayscale rows (expanded to RGB when rgb)."""
    raw = bytearray()
    for y in range(height):
        row = gray[y * width:(y + 1) * width]
        raw.append(0)  # filter type: None
        if rgb:
            for v in row:
                raw += bytes((v, v, v))
        else:
            raw += row
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2 if rgb else 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
            + png_chunk(b"IDAT", zlib.compress(bytes(raw), 9))
            + png_chunk(b"IEND", b""))


def write_file(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def image(split_data, i):
    n, rows, cols, pixels, labels = split_data
    size = rows * cols
    return pixels[i * size:(i + 1) * size], labels[i]


def cmd_samples(args, split_data):
    n, rows, cols = split_data[:3]
    indices = args.index if args.index else list(range(args.count))
    os.makedirs(args.outdir, exist_ok=True)
    for i in indices:
        if i < 0 or i >= n:
            fail("index %d out of range: the %s split has %d images" % (i, args.split, n))
        gray, lab = image(split_data, i)
        path = os.path.join(args.outdir, "%s-%05d-%s.png" % (args.split, i, CLASSES[lab]))
        write_file(path, encode_png(gray, cols, rows, args.rgb))
        print(path)


def cmd_folder(args, split_data):
    n, rows, cols = split_data[:3]
    counts = [0] * len(CLASSES)
    for c in CLASSES:
        os.makedirs(os.path.join(args.root, c), exist_ok=True)
    for i in range(n):
        gray, lab = image(split_data, i)
        if args.per_class is not None and counts[lab] >= args.per_class:
            if all(k >= args.per_class for k in counts):
                break
            continue
        counts[lab] += 1
        path = os.path.join(args.root, CLASSES[lab], "%05d.png" % i)
        write_file(path, encode_png(gray, cols, rows, args.rgb))
    print("%s: %d images from the %s split (%s)"
          % (args.root, sum(counts), args.split,
             ", ".join("%s %d" % (c, k) for c, k in zip(CLASSES, counts))))


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[1:]))
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", help="directory with the *-idx?-ubyte.gz files")
    common.add_argument("--rgb", action="store_true",
                        help="write RGB instead of grayscale")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("samples", parents=[common],
                       help="a few images, named by index and class")
    s.add_argument("outdir")
    s.add_argument("--split", choices=sorted(PREFIX), default="test")
    s.add_argument("--count", type=int, default=4, help="first N images (default 4)")
    s.add_argument("--index", type=int, nargs="+", help="these image indices")
    f = sub.add_parser("folder", parents=[common],
                       help="ROOT/<class>/<index>.png image folder")
    f.add_argument("root")
    f.add_argument("--split", choices=sorted(PREFIX), default="train")
    f.add_argument("--per-class", type=int, help="at most N images per class")
    b = sub.add_parser("splits", parents=[common],
                       help="ROOT/train/<class>/ and ROOT/test/<class>/ image folders")
    b.add_argument("root")
    b.add_argument("--per-class", type=int, help="at most N images per class and split")
    args = ap.parse_args()
    if args.cmd == "samples" and args.count < 0:
        ap.error("--count must be >= 0")
    if args.cmd in ("folder", "splits") and args.per_class is not None \
            and args.per_class < 0:
        ap.error("--per-class must be >= 0")

    data_dir = args.data_dir or find_data_dir()
    if args.cmd == "splits":
        root = args.root
        for split in ("train", "test"):
            args.root, args.split = os.path.join(root, split), split
            cmd_folder(args, load_split(data_dir, split))
        return
    split_data = load_split(data_dir, args.split)
    if args.cmd == "samples":
        cmd_samples(args, split_data)
    else:
        cmd_folder(args, split_data)


if __name__ == "__main__":
    main()
