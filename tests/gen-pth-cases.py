#!/usr/bin/python3
"""gen-pth-cases.py OUTDIR — write the .pth checkpoints test-pth reads.

Real torch.save files (plain, wrapped, half, non-contiguous, mismatched,
legacy), a hand-written zip64 copy that torch.load itself accepts, damaged
zips, and malicious pickles whose payloads are proven to run under
Python's pickle (so refusing them means something). Expected tensor values
are written as raw little-endian files: exp/<case>/<key>.bin (float32 for
float tensors, int64 for integer ones).
"""
import io
import os
import pickle
import struct
import sys
import zipfile

import torch

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.bn = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4, 5)

    def forward(self, x):
        x = self.bn(self.conv(x))
        return self.fc(x.mean((2, 3)))


net = Net()
opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
for _ in range(3):  # non-trivial running stats and num_batches_tracked
    loss = net(torch.randn(2, 3, 8, 8)).square().mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
sd = net.state_dict()
assert int(sd["bn.num_batches_tracked"]) == 3


def path(name):
    return os.path.join(out, name)


def write_expected(case, state):
    d = path(os.path.join("exp", case))
    os.makedirs(d, exist_ok=True)
    for k, v in state.items():
        v = v.detach().contiguous()
        v = v.to(torch.float32) if v.is_floating_point() else v.to(torch.int64)
        with open(os.path.join(d, k + ".bin"), "wb") as f:
            f.write(v.numpy().astype(v.numpy().dtype.newbyteorder("<")).tobytes())


# ---- real torch.save files ----------------------------------------------
torch.save(sd, path("plain.pth"))
write_expected("plain", sd)
torch.save({"state_dict": sd, "epoch": 3, "optimizer": opt.state_dict(),
            "arch": "net", "best": 0.75, "flags": [True, None, (1, 2)]},
           path("wrapped.pth"))
torch.save({"model": sd}, path("model.pth"))
half = {k: (v.half() if v.is_floating_point() else v) for k, v in sd.items()}
torch.save(half, path("half.pth"))
write_expected("half", half)
dbl = {k: (v.double() if v.is_floating_point() else v) for k, v in sd.items()}
torch.save(dbl, path("double.pth"))
write_expected("double", {k: v.float() if v.is_floating_point() else v
                          for k, v in dbl.items()})
# nn.Parameter values (keep_vars=True) go through _rebuild_parameter
torch.save(net.state_dict(keep_vars=True), path("params.pth"))
# A tensor that is a view at an offset into a shared storage.
big = torch.randn(100)
shared = dict(sd)
shared["fc.bias"] = big[10:15]
shared["conv.bias"] = big[50:54]
torch.save(shared, path("shared.pth"))
write_expected("shared", shared)
nc = dict(sd)
nc["fc.weight"] = torch.randn(4, 5).t()
assert not nc["fc.weight"].is_contiguous()
torch.save(nc, path("noncontig.pth"))
miss = {k: v for k, v in sd.items() if k != "fc.bias"}
torch.save(miss, path("missing.pth"))
write_expected("missing", miss)
extra = dict(sd)
extra["head.weight"] = torch.randn(2, 2)
torch.save(extra, path("extra.pth"))
wrong = dict(sd)
wrong["conv.weight"] = torch.randn(4, 3, 1, 1)
torch.save(wrong, path("wrongshape.pth"))
dp = {"module." + k: v for k, v in sd.items()}
torch.save(dp, path("dataparallel.pth"))
torch.save(sd, path("legacy.pth"), _use_new_zipfile_serialization=False)


# ---- a hand-written zip writer (for zip64 and malicious archives) --------
def write_zip(fname, entries, zip64=False, align=64):
    """entries: list of (name, bytes). STORED, data 64-byte aligned."""
    buf = bytearray()
    central = bytearray()
    for name, data in entries:
        n = name.encode()
        off = len(buf)
        pad = (-(off + 30 + len(n) + 4)) % align
        extra = struct.pack("<HH", 0xFB00, pad) + b"Z" * pad
        crc = zipfile.crc32(data) & 0xFFFFFFFF
        buf += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45 if zip64 else 20, 0,
                           0, 0, 0x21, crc, len(data), len(data), len(n),
                           len(extra)) + n + extra
        buf += data
        if zip64:
            cx = struct.pack("<HHQQQ", 1, 24, len(data), len(data), off)
            sizes = (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
        else:
            cx = b""
            sizes = (len(data), len(data), off)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0,
                               0, 0x21, crc, sizes[0], sizes[1], len(n),
                               len(cx), 0, 0, 0, 0, sizes[2]) + n + cx
    cd_off = len(buf)
    buf += central
    if zip64:
        z64 = len(buf)
        buf += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0,
                           len(entries), len(entries), len(central), cd_off)
        buf += struct.pack("<IIQI", 0x07064B50, 0, z64, 1)
        buf += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF,
                           0xFFFFFFFF, 0xFFFFFFFF, 0)
    else:
        buf += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries),
                           len(entries), len(central), cd_off, 0)
    with open(fname, "wb") as f:
        f.write(buf)


plain = zipfile.ZipFile(path("plain.pth"))
plain_entries = [(i.filename, plain.read(i.filename)) for i in plain.infolist()]
write_zip(path("zip64.pth"), plain_entries, zip64=True)
z64 = torch.load(path("zip64.pth"))  # the reference reader accepts it
assert all(torch.equal(z64[k], sd[k]) for k in sd)

# Deflated copy: same content, compressed entries.
with zipfile.ZipFile(path("deflated.pth"), "w", zipfile.ZIP_DEFLATED) as z:
    for name, data in plain_entries:
        z.writestr(name, data)

# Entry whose local-header offset points past the end of the file.
raw = bytearray(open(path("plain.pth"), "rb").read())
cd = raw.index(b"PK\x01\x02")
struct.pack_into("<I", raw, cd + 42, len(raw) + 4096)
open(path("badoffset.pth"), "wb").write(raw)
# Storage entry shorter than the tensor needs.
short = [(n, d[:8] if n.endswith("/data/0") else d) for n, d in plain_entries]
write_zip(path("shortstorage.pth"), short)

full = open(path("plain.pth"), "rb").read()
open(path("trunc-half.pth"), "wb").write(full[: len(full) // 2])
open(path("trunc-tail.pth"), "wb").write(full[:-10])
open(path("empty.pth"), "wb").write(b"")
# data.pkl cut off in the middle (zip intact).
pkl_name = [n for n, _ in plain_entries if n.endswith("data.pkl")][0]
cut = [(n, d[: len(d) // 2] if n == pkl_name else d) for n, d in plain_entries]
write_zip(path("trunc-pickle.pth"), cut)


# ---- malicious pickles ----------------------------------------------------
def s(x):  # BINUNICODE
    b = x.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def sh(x):  # SHORT_BINUNICODE
    b = x.encode()
    return b"\x8c" + bytes([len(b)]) + b


def payloads(marker):
    cmd = "touch " + marker
    return {
        "os-system": b"\x80\x02cos\nsystem\n" + s(cmd) + b"\x85R.",
        "posix-system": b"\x80\x02cposix\nsystem\n" + s(cmd) + b"\x85R.",
        "builtins-eval": b"\x80\x02cbuiltins\neval\n"
        + s("__import__('os').system(%r)" % cmd) + b"\x85R.",
        "stack-global": b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00"
        + sh("os") + sh("system") + b"\x93" + s(cmd) + b"\x85R.",
        "subprocess-popen": b"\x80\x02csubprocess\nPopen\n(]"
        + b"(" + s("touch") + s(marker) + b"e" + b"tR.",
        # a valid-looking state dict whose second value is the payload
        "nested": b"\x80\x02ccollections\nOrderedDict\n)R(" + s("conv.bias")
        + b"cos\nsystem\n" + s(cmd) + b"\x85R" + b"u.",
    }


# Prove every payload really runs under Python's unpickler.
for name, p in payloads(path("proof")).items():
    if os.path.exists(path("proof")):
        os.remove(path("proof"))
    r = pickle.loads(p)
    if hasattr(r, "wait"):
        r.wait()
    assert os.path.exists(path("proof")), name
    os.remove(path("proof"))

for name, p in payloads(path("MARKER-" + "x")).items():
    marker = path("MARKER-" + name)
    if os.path.exists(marker):
        os.remove(marker)
    body = payloads(marker)[name]
    write_zip(path("evil-%s.pth" % name),
              [("archive/data.pkl", body), ("archive/version", b"3\n")])

print("wrote pth cases to", out)
