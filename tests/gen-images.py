#!/usr/bin/env python3
# gen-images.py — writes the images and PyTorch/PIL reference data that
# tests/test-image.c checks nnkit's decoders and preprocessing against.
# Usage: gen-images.py OUTDIR. PNGs are written with zlib+struct (exact
# known pixels), JPEGs with PIL; references come from PIL and torch.
import os
import struct
import sys
import zlib

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from PIL import Image

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.RandomState(1234)


def path(name):
    return os.path.join(out, name)


def png_write(name, width, height, color_type, depth, rows, plte=None,
              trns=None):
    """rows: list of bytes per scanline (without the filter byte)."""
    def chunk(tag, data):
        c = struct.pack(">I", len(data)) + tag + data
        return c + struct.pack(">I", zlib.crc32(tag + data) & 0xffffffff)
    raw = b"".join(b"\x00" + r for r in rows)
    data = b"\x89PNG\r\n\x1a\n"
    data += chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth,
                                       color_type, 0, 0, 0))
    if plte is not None:
        data += chunk(b"PLTE", plte)
    if trns is not None:
        data += chunk(b"tRNS", trns)
    data += chunk(b"IDAT", zlib.compress(raw, 9))
    data += chunk(b"IEND", b"")
    with open(path(name), "wb") as f:
        f.write(data)
    return data


def smooth_rgb(h, w):
    """A smooth image with some texture (JPEG-friendly, resize-sensitive)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 100 * np.sin(x / 7.0) * np.cos(y / 11.0)
    g = 128 + 90 * np.cos((x + y) / 9.0)
    b = (x * 255.0 / max(w - 1, 1))
    img = np.stack([r, g, b], -1) + rng.uniform(-20, 20, (h, w, 3))
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def save_raw(name, arr):
    np.ascontiguousarray(arr).tofile(path(name))


# ---- PNGs with exactly known pixels -------------------------------------
H, W = 61, 97
rgb = smooth_rgb(H, W)
png_write("rgb.png", W, H, 2, 8, [rgb[i].tobytes() for i in range(H)])
save_raw("rgb.png.rgb", rgb)

gray = rng.randint(0, 256, (13, 17)).astype(np.uint8)
png_write("gray.png", 17, 13, 0, 8, [gray[i].tobytes() for i in range(13)])
save_raw("gray.png.gray", gray)

ga = rng.randint(0, 256, (9, 11, 2)).astype(np.uint8)
png_write("graya.png", 11, 9, 4, 8, [ga[i].tobytes() for i in range(9)])
save_raw("graya.png.gray", ga[:, :, 0])

rgba = rng.randint(0, 256, (10, 12, 4)).astype(np.uint8)
png_write("rgba.png", 12, 10, 6, 8, [rgba[i].tobytes() for i in range(10)])
save_raw("rgba.png.rgb", rgba[:, :, :3])

pal = rng.randint(0, 256, (16, 3)).astype(np.uint8)
idx = rng.randint(0, 16, (7, 8)).astype(np.uint8)
# 4-bit palette with transparency: two indices per byte, high nibble first.
rows = [bytes((idx[i, 2 * k] << 4) | idx[i, 2 * k + 1] for k in range(4))
        for i in range(7)]
png_write("palette.png", 8, 7, 3, 4, rows, plte=pal.tobytes(),
          trns=bytes([0, 128]))
save_raw("palette.png.rgb", pal[idx])

rgb16 = rng.randint(0, 65536, (5, 6, 3)).astype(">u2")
png_write("rgb16.png", 6, 5, 2, 16, [rgb16[i].tobytes() for i in range(5)])
save_raw("rgb16.png.rgb", (rgb16 >> 8).astype(np.uint8))

gray16 = rng.randint(0, 65536, (4, 9)).astype(">u2")
png_write("gray16.png", 9, 4, 0, 16, [gray16[i].tobytes() for i in range(4)])
save_raw("gray16.png.gray", (gray16 >> 8).astype(np.uint8))

# Cross-check the writer with PIL on the 8-bit RGB file.
assert (np.asarray(Image.open(path("rgb.png")).convert("RGB")) == rgb).all()

# ---- JPEGs (PIL encodes and decodes with libjpeg) -----------------------
Image.fromarray(rgb).save(path("rgb.jpg"), quality=92)
save_raw("rgb.jpg.rgb", np.asarray(Image.open(path("rgb.jpg")).convert("RGB")))
save_raw("rgb.jpg.gray", np.asarray(Image.open(path("rgb.jpg")).convert("L")))
Image.fromarray(gray).save(path("gray.jpg"), quality=95)
save_raw("gray.jpg.gray", np.asarray(Image.open(path("gray.jpg"))))
Image.fromarray(smooth_rgb(600, 800)).save(path("big.jpg"), quality=85)

# ---- broken files -------------------------------------------------------
jpg = open(path("rgb.jpg"), "rb").read()
open(path("truncated.jpg"), "wb").write(jpg[: len(jpg) // 2])
png = open(path("rgb.png"), "rb").read()
open(path("truncated.png"), "wb").write(png[: len(png) // 2])
bad = bytearray(png)
bad[60] ^= 0xFF  # inside IDAT: CRC mismatch
open(path("corrupt.png"), "wb").write(bytes(bad))
open(path("garbage.jpg"), "wb").write(b"\xff\xd8\xff" + bytes(range(256)) * 4)
open(path("notimage.txt"), "wb").write(b"hello, this is not an image\n")
open(path("empty.png"), "wb").write(b"")

# ---- preprocessing references (torch) -----------------------------------
# Each config: resize, crop_h, crop_w, channels, bgr, nhwc, mean, std.
# Keep in sync with prep_cases[] in test-image.c.
CASES = [
    (32, 28, 28, 3, 0, 0, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    (128, 112, 100, 3, 0, 1, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)),
    (40, 36, 36, 3, 1, 0, (0.1, 0.2, 0.3), (0.3, 0.2, 0.1)),
    (30, 32, 57, 1, 0, 0, (0.5,), (0.5,)),      # crop wider than image: pads
    (0, 61, 97, 3, 0, 0, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),  # no resize
    (61, 50, 50, 3, 0, 0, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),  # same size
]


def reference(arr, resize, ch, cw, chans, bgr, nhwc, mean, std):
    if chans == 1:
        arr = np.asarray(Image.fromarray(arr).convert("L"))[:, :, None]
    x = torch.from_numpy(arr.copy()).permute(2, 0, 1)[None].float()
    h, w = arr.shape[:2]
    if resize:
        if w <= h:
            nw, nh = resize, int(resize * h / w)
        else:
            nh, nw = resize, int(resize * w / h)
        if (nh, nw) != (h, w):
            # torchvision's Resize on a uint8 tensor: bilinear without
            # antialias, then torch.round back to uint8.
            x = F.interpolate(x, size=(nh, nw), mode="bilinear",
                              align_corners=False).round().clamp(0, 255)
    x = TF.center_crop(x, [ch, cw])
    x = x / 255.0
    if bgr:  # mean/std are in the model's channel order (here B, G, R)
        x = x.flip(1)
    x = (x - torch.tensor(mean).view(1, -1, 1, 1)) / \
        torch.tensor(std).view(1, -1, 1, 1)
    if nhwc:
        x = x.permute(0, 2, 3, 1)
    return x.contiguous().numpy().astype(np.float32)


for i, c in enumerate(CASES):
    save_raw("prep-%d.f32" % i, reference(rgb, *c))

# Plain float bilinear resize (no rounding): 97x61 -> 50x40 and 150x90.
x = torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None].float()
for (dh, dw) in ((40, 50), (90, 150)):
    y = F.interpolate(x, size=(dh, dw), mode="bilinear", align_corners=False)
    save_raw("resize-%dx%d.f32" % (dw, dh),
             y[0].permute(1, 2, 0).contiguous().numpy().astype(np.float32))
print("ok")
