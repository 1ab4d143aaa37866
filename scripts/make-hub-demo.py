#!/usr/bin/env python3
"""make-hub-demo.py — prepare a local stand-in for GitHub (for the demo and
the hub tests) with the Python standard library only, no torch:

  make-hub-demo.py DATA BASE_URL [--seed N]

writes DATA/repos/demo/lenet/ (nnkit-hub.json, labels.txt, README.md) and
DATA/releases/demo/lenet/v1/lenet5.pth, a real torch.save checkpoint (zip
container, pickle protocol 2, exactly the records torch writes) with
random LeNet-5 weights. BASE_URL is the NNKIT_GITHUB_URL the files will be
served from (tests/hub/fake_github.py DATA), used in the manifest's
release-asset URL. Prints the SHA-256 of the weights.
"""
import hashlib, json, os, random, struct, sys, zipfile

LENET5 = [("conv1.weight", (6, 1, 5, 5)), ("conv1.bias", (6,)),
          ("conv2.weight", (16, 6, 5, 5)), ("conv2.bias", (16,)),
          ("fc1.weight", (120, 400)), ("fc1.bias", (120,)),
          ("fc2.weight", (84, 120)), ("fc2.bias", (84,)),
          ("fc3.weight", (10, 84)), ("fc3.bias", (10,))]
LABELS = ["zero", "one", "two", "three", "four", "five", "six", "seven",
          "eight", "nine"]


def _str(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def _int(v):
    return b"J" + struct.pack("<i", v)


def _tuple(vals):
    return b"(" + b"".join(_int(v) for v in vals) + b"t"


def state_dict_pickle(tensors):
    """Pickle of {name: tensor} as torch.save writes it (protocol 2)."""
    out = [b"\x80\x02}("]
    for key, (name, shape) in enumerate(tensors):
        numel = 1
        for d in shape:
            numel *= d
        stride, acc = [], 1
        for d in reversed(shape):
            stride.insert(0, acc)
            acc *= d
        out.append(_str(name))
        out.append(b"ctorch._utils\n_rebuild_tensor_v2\n(")
        out.append(b"(" + _str("storage") + b"ctorch\nFloatStorage\n" +
                   _str(str(key)) + _str("cpu") + _int(numel) + b"tQ")
        out.append(_int(0) + _tuple(shape) + _tuple(stride) + b"\x89")
        out.append(b"ccollections\nOrderedDict\n)R")
        out.append(b"tR")
    out.append(b"u.")
    return b"".join(out)


def write_pth(path, tensors, values):
    def entry(name):  # fixed time stamps: the same seed gives the same bytes
        return zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    with zipfile.ZipFile(path + ".tmp", "w", zipfile.ZIP_STORED) as z:
        z.writestr(entry("archive/data.pkl"), state_dict_pickle(tensors))
        for key, v in enumerate(values):
            z.writestr(entry("archive/data/%d" % key),
                       struct.pack("<%df" % len(v), *v))
        z.writestr(entry("archive/version"), "3\n")
    os.replace(path + ".tmp", path)


def lenet5_values(seed):
    rng = random.Random(seed)
    vals = []
    for name, shape in LENET5:
        n = 1
        for d in shape:
            n *= d
        fan_in = n // shape[0] if len(shape) > 1 else 1
        bound = 1.0 / (fan_in ** 0.5) if len(shape) > 1 else 0.1
        vals.append([rng.uniform(-bound, bound) for _ in range(n)])
    return vals


def main():
    data, base = sys.argv[1], sys.argv[2].rstrip("/")
    seed = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--seed" else 1
    rel = os.path.join(data, "releases", "demo", "lenet", "v1")
    repo = os.path.join(data, "repos", "demo", "lenet")
    os.makedirs(rel, exist_ok=True)
    os.makedirs(repo, exist_ok=True)
    pth = os.path.join(rel, "lenet5.pth")
    write_pth(pth, LENET5, lenet5_values(seed))
    with open(pth, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    manifest = {
        "nnkit_hub": 1,
        "models": {
            "lenet5": {
                "description": "LeNet-5 for 28x28 digits (demo weights)",
                "arch": "lenet5",
                "args": {"classes": 10},
                "weights": {"url": "%s/demo/lenet/releases/download/v1/lenet5.pth" % base,
                            "sha256": sha},
                "labels": {"file": "labels.txt"},
                "preprocessing": {"channels": 1, "resize": 0, "crop": 28,
                                  "scale": 1.0 / 255, "mean": [0.5], "std": [0.5]},
            }
        },
    }
    with open(os.path.join(repo, "nnkit-hub.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    with open(os.path.join(repo, "labels.txt"), "w") as f:
        f.write("\n".join(LABELS) + "\n")
    with open(os.path.join(repo, "README.md"), "w") as f:
        f.write("# demo/lenet\n\nA repository served by tests/hub/fake_github.py "
                "for `nnkit hub pull demo/lenet lenet5`.\n")
    print(sha)


if __name__ == "__main__":
    main()
