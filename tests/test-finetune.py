#!/usr/bin/env python3
# test-finetune.py CASE FASHION_MNIST_DIR — real-data tests of `nnkit
# finetune` and `nnkit eval` on Fashion-MNIST (written by
# scripts/fashion-mnist-to-png.py): lenet | transfer | resume | errors.
# Also holds the TensorBoard event-file reader (stdlib only: record framing,
# masked CRC-32C, a minimal protobuf decoder) that checks every Event.
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time

NNKIT = os.environ.get("NNKIT_BIN", "nnkit")
TMP = os.environ.get("NNKIT_TEST_TMP", "/tmp")
THREADS = "2"
FAILED = []


def check(cond, msg):
    print(("ok    " if cond else "FAIL  ") + msg, flush=True)
    if not cond:
        FAILED.append(msg)


def run(args, env=None, expect=0):
    e = dict(os.environ)
    e.update(env or {})
    print("$ nnkit " + " ".join(args), flush=True)
    p = subprocess.run([NNKIT] + args, capture_output=True, text=True, env=e)
    sys.stdout.write(p.stdout)
    sys.stdout.write("".join("  [stderr] " + l + "\n" for l in p.stderr.splitlines()))
    if expect is not None and p.returncode != expect:
        sys.exit(f"nnkit {' '.join(args)}: exit status {p.returncode}, expected {expect}")
    return p


def fresh(name):
    d = os.path.join(TMP, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def subset(src, dst, classes, limit=None):
    """dst/<class> as symlinks (whole folders) or folders of file links."""
    os.makedirs(dst, exist_ok=True)
    for c in classes:
        if limit is None:
            os.symlink(os.path.join(src, c), os.path.join(dst, c))
            continue
        os.makedirs(os.path.join(dst, c))
        for f in sorted(os.listdir(os.path.join(src, c)))[:limit]:
            os.symlink(os.path.join(src, c, f), os.path.join(dst, c, f))


def eval_json(model, data):
    p = run(["eval", model, "--data", data, "--json", "--threads", THREADS])
    return json.loads(p.stdout)


# ---- TensorBoard event files ------------------------------------------------

def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def masked_crc(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def varint(buf, i):
    v = shift = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i
        if shift > 63:
            raise ValueError("varint too long")


def fields(buf):
    """Decode one protobuf message into [(field, wire_type, value)]."""
    out, i = [], 0
    while i < len(buf):
        key, i = varint(buf, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(buf, i)
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        elif wt == 2:
            n, i = varint(buf, i)
            v, i = buf[i:i + n], i + n
        else:
            raise ValueError(f"wire type {wt}")
        if i > len(buf):
            raise ValueError("field runs past the message")
        out.append((f, wt, v))
    return out


def read_events(path):
    """Every Event of a file as dicts; raises on any framing/CRC error."""
    data = open(path, "rb").read()
    events, at = [], 0
    while at < len(data):
        if len(data) - at < 12:
            raise ValueError(f"{path}: truncated header at {at}")
        (n,) = struct.unpack_from("<Q", data, at)
        (c1,) = struct.unpack_from("<I", data, at + 8)
        if c1 != masked_crc(data[at:at + 8]):
            raise ValueError(f"{path}: bad length CRC at {at}")
        body = data[at + 12:at + 12 + n]
        if len(body) != n or at + 12 + n + 4 > len(data):
            raise ValueError(f"{path}: truncated record at {at}")
        (c2,) = struct.unpack_from("<I", data, at + 12 + n)
        if c2 != masked_crc(body):
            raise ValueError(f"{path}: bad data CRC at {at}")
        ev = {"values": []}
        for f, wt, v in fields(body):
            if f == 1 and wt == 1:
                ev["wall_time"] = struct.unpack("<d", v)[0]
            elif f == 2 and wt == 0:
                ev["step"] = v
            elif f == 3 and wt == 2:
                ev["file_version"] = v.decode()
            elif f == 5 and wt == 2:
                for sf, swt, sv in fields(v):
                    if sf != 1 or swt != 2:
                        raise ValueError(f"{path}: Summary field {sf}")
                    tag, val = None, None
                    for vf, vwt, vv in fields(sv):
                        if vf == 1 and vwt == 2:
                            tag = vv.decode()
                        elif vf == 2 and vwt == 5:
                            val = struct.unpack("<f", vv)[0]
                    ev["values"].append((tag, val))
            else:
                raise ValueError(f"{path}: unexpected Event field {f}/{wt}")
        events.append(ev)
        at += 12 + n + 4
    return events


def check_events(logdir, want_tags, epoch_losses):
    files = [f for f in os.listdir(logdir) if f.startswith("events.out.tfevents.")]
    check(len(files) >= 1, f"{logdir}: {len(files)} event file(s)")
    scalars = {}
    n = 0
    for f in files:
        evs = read_events(os.path.join(logdir, f))
        n += len(evs)
        check(evs[0].get("file_version") == "brain.Event:2",
              f"{f}: first event is file_version brain.Event:2")
        malformed = [ev for ev in evs[1:] if "wall_time" not in ev or
                     "step" not in ev or len(ev["values"]) != 1 or
                     ev["values"][0][0] is None or ev["values"][0][1] is None]
        check(not malformed, f"{f}: every scalar event has wall_time, step, "
              f"one tagged value ({len(malformed)} malformed)")
        for ev in evs[1:]:
            for tag, val in ev["values"]:
                scalars.setdefault(tag, {})[ev["step"]] = val
    print(f"parsed {n} events; tags: {sorted(scalars)}")
    for t in want_tags:
        check(t in scalars, f"events have tag {t}")
    for epoch, loss in epoch_losses.items():
        got = scalars.get("train/loss", {}).get(epoch)
        check(got is not None and abs(got - loss) < 1e-3,
              f"train/loss at epoch {epoch}: events {got}, printed {loss}")
    return scalars


def read_checkpoint(path):
    """The entries of an nnkit checkpoint (train/checkpoint.h)."""
    d = open(path, "rb").read()
    if d[:8] != b"NKCKPT01":
        raise ValueError(f"{path}: bad magic")
    (n,) = struct.unpack_from("<I", d, 8)
    at, out = 12, {}
    for _ in range(n):
        (nl,) = struct.unpack_from("<I", d, at)
        name = d[at + 4:at + 4 + nl].decode()
        (ln,) = struct.unpack_from("<Q", d, at + 4 + nl)
        out[name] = d[at + 12 + nl:at + 12 + nl + ln]
        at += 12 + nl + ln
    if at != len(d):
        raise ValueError(f"{path}: {len(d) - at} trailing bytes")
    return out


def epoch_lines(stdout):
    out = {}
    for m in re.finditer(r"^epoch (\d+)/\d+\s+loss ([0-9.]+)\s+acc ([0-9.]+)%", stdout, re.M):
        out[int(m.group(1))] = float(m.group(2))
    return out


def check_report(path, n_classes):
    html = open(path, encoding="utf-8").read()
    check("<svg" in html and "Accuracy" in html, f"{path}: has SVG curves")
    check(not re.search(r"(src|href)\s*=|<script|<link|@import|url\(", html),
          f"{path}: no external resources")
    if n_classes:
        cells = html.count("predicted as")
        check(cells == n_classes * n_classes,
              f"{path}: confusion matrix has {cells} cells, expected {n_classes ** 2}")


# ---- cases ---------------------------------------------------------------------

def case_lenet(fm):
    """(a) LeNet-5, all layers, 2 epochs, default optimiser: >= 83% on test."""
    w = fresh("finetune-lenet")
    base, out, logs = f"{w}/lenet5.nnk", f"{w}/lenet-fm.nnk", f"{w}/logs"
    run(["zoo", "create", "lenet5", "-o", base])
    p = run(["finetune", base, "--data", f"{fm}/train", "-o", out,
             "--train-layers", "all", "--epochs", "2", "--logdir", logs,
             "--threads", THREADS])
    r = eval_json(out, f"{fm}/test")
    acc = r["accuracy"]
    print(f"LeNet-5 on Fashion-MNIST, 2 epochs: test accuracy {100 * acc:.2f}% "
          f"({r['correct']} of {r['images']})")
    check(r["images"] == 10000, "evaluated all 10000 test images")
    check(acc >= 0.83, f"test accuracy {100 * acc:.2f}% >= 83%")
    conf = r["confusion"]
    check(sum(map(sum, conf)) == 10000 and
          sum(conf[i][i] for i in range(len(conf))) == r["correct"],
          "confusion matrix sums to images, diagonal to correct")
    names = [c["name"] for c in r["classes"]]
    check(names == sorted(os.listdir(f"{fm}/train")), "labels are the class folders, sorted")
    # nnkit run prints class names with the fine-tuned model
    img = os.path.join(fm, "test", "Trouser", sorted(os.listdir(f"{fm}/test/Trouser"))[0])
    p2 = run(["run", out, img, "--topk", "1"])
    check("Trouser" in p2.stdout, "nnkit run prints the class name")
    check_events(logs, ["train/loss", "train/accuracy", "train/learning_rate"],
                 epoch_lines(p.stdout))
    check_report(f"{logs}/report.html", 0)


def case_transfer(fm):
    """(b) a backbone trained on classes 0-4 vs a random one, head-only on 5-9.

    MobileNet v1 (width 0.25, 32x32 input: the 28x28 gray images are resized
    to 37 and center-cropped to 32, as 3 channels) is pretrained by nnkit,
    all layers, on 3000 images per class of 0-4 (2 epochs, SGD + cosine).
    Then, with the backbone frozen (BatchNorm in eval mode with its running
    statistics), only a new head is trained, on cached features, on 1000
    images per class of 5-9 -- the same recipe on the pretrained and on the
    randomly initialised backbone -- and both are evaluated on all 5000 test
    images of 5-9. A random MobileNet's features all but vanish (its
    depthwise convs, kaiming fan_out init, shrink the signal at every
    block: ~1e-9 after the global pool, in PyTorch too), so a head on it
    stays near chance, while learned features carry over to the unseen
    classes. NNKIT_TRANSFER_SEED picks another seed (default 0).
    """
    seed = os.environ.get("NNKIT_TRANSFER_SEED", "0")
    w = fresh("finetune-transfer")
    first = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat"]
    second = ["Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot"]
    subset(f"{fm}/train", f"{w}/a", first, limit=3000)
    subset(f"{fm}/test", f"{w}/a-test", first)
    subset(f"{fm}/train", f"{w}/b", second, limit=1000)
    subset(f"{fm}/test", f"{w}/b-test", second)
    base = f"{w}/mobilenet.nnk"
    run(["zoo", "create", "mobilenet_v1", "--width-mult", "0.25", "--input-size", "32",
         "--seed", seed, "-o", base])
    t0 = time.time()
    run(["finetune", base, "--data", f"{w}/a", "-o", f"{w}/pre.nnk",
         "--train-layers", "all", "--epochs", "2", "--optimizer", "sgd", "--lr", "0.05",
         "--schedule", "cosine", "--batch", "32", "--seed", seed, "--threads", THREADS])
    t_pre = time.time() - t0
    # the pretrained backbone is sound in eval mode: its running statistics
    # were updated by training (a stale BN would fail this)
    a = eval_json(f"{w}/pre.nnk", f"{w}/a-test")
    print(f"pretraining on classes 0-4: {t_pre:.0f} s; test accuracy on 0-4 "
          f"{100 * a['accuracy']:.2f}%")
    check(a["accuracy"] >= 0.75,
          f"pretrained model reaches {100 * a['accuracy']:.2f}% >= 75% on 0-4's test images")
    recipe = ["--data", f"{w}/b", "--train-layers", "head", "--epochs", "20",
              "--lr", "0.01", "--seed", seed, "--threads", THREADS]
    p = run(["finetune", f"{w}/pre.nnk", "-o", f"{w}/pre-b.nnk"] + recipe)
    check("cached features" in p.stdout, "frozen backbone trains the head on cached features")
    check("1285 trainable parameters" in p.stdout,
          "only the new 256x5 head is trained (1285 parameters)")
    run(["finetune", base, "-o", f"{w}/rand-b.nnk"] + recipe)
    pre = eval_json(f"{w}/pre-b.nnk", f"{w}/b-test")
    rnd = eval_json(f"{w}/rand-b.nnk", f"{w}/b-test")
    print(f"classes 5-9, new head on a frozen MobileNet v1 0.25 (32x32): "
          f"backbone pretrained on 0-4: accuracy {100 * pre['accuracy']:.2f}%, "
          f"loss {pre['loss']:.4f}; random backbone: accuracy "
          f"{100 * rnd['accuracy']:.2f}%, loss {rnd['loss']:.4f}; "
          f"{time.time() - t0:.0f} s in all")
    check(pre["images"] == 5000 and rnd["images"] == 5000, "evaluated all 5000 test images of 5-9")
    check(pre["accuracy"] >= 0.65,
          f"pretrained backbone reaches {100 * pre['accuracy']:.2f}% >= 65% on unseen classes")
    check(pre["accuracy"] >= rnd["accuracy"] + 0.30,
          f"pretrained {100 * pre['accuracy']:.2f}% >= random "
          f"{100 * rnd['accuracy']:.2f}% + 30 points")
    check(pre["loss"] <= 0.5 * rnd["loss"],
          f"pretrained test loss {pre['loss']:.4f} <= 0.5 x random {rnd['loss']:.4f}")


def case_resume(fm):
    """(c) SIGKILL mid-epoch, --resume: bit-exact with an uninterrupted run."""
    w = fresh("finetune-resume")
    classes = sorted(os.listdir(f"{fm}/train"))
    subset(f"{fm}/train", f"{w}/data", classes, limit=150)
    base = f"{w}/lenet5.nnk"
    run(["zoo", "create", "lenet5", "-o", base])
    recipe = ["--data", f"{w}/data", "--val-split", "0.1", "--train-layers", "all",
              "--augment", "--epochs", "3", "--batch", "32", "--seed", "7",
              "--schedule", "cosine", "--warmup", "1", "--optimizer", "sgd",
              "--lr", "0.05", "--threads", THREADS]
    pa = run(["finetune", base, "-o", f"{w}/a.nnk", "--logdir", f"{w}/la"] + recipe)
    bpe = (1500 - 150 + 31) // 32  # 43 batches per epoch
    for name, kill in (("mid-epoch-2", bpe + bpe // 2), ("epoch-1", 10)):
        out, logs = f"{w}/{name}.nnk", f"{w}/l-{name}"
        p = run(["finetune", base, "-o", out, "--logdir", logs] + recipe,
                env={"NNKIT_TEST_KILL_AFTER_BATCHES": str(kill)}, expect=None)
        check(p.returncode == -9, f"{name}: killed by SIGKILL after {kill} batches")
        check(not os.path.exists(out), f"{name}: no output written by the killed run")
        check(not [f for f in os.listdir(logs) if f.endswith(".tmp")],
              f"{name}: no temporary file left in the logdir")
        p = run(["finetune", base, "-o", out, "--logdir", logs, "--resume"] + recipe)
        if kill > bpe:
            check("resuming after epoch 1 of 3" in p.stdout, f"{name}: resumed after epoch 1")
        else:
            check("starting from the beginning" in p.stdout, f"{name}: no checkpoint, fresh start")
        same = open(out, "rb").read() == open(f"{w}/a.nnk", "rb").read()
        check(same, f"{name}: resumed model is bit-identical to the uninterrupted one")
        ca = read_checkpoint(f"{w}/la/checkpoint.nkckpt")
        cb = read_checkpoint(f"{logs}/checkpoint.nkckpt")
        keys = [k for k in ca if k.split(":")[0] in ("param", "best", "optim", "state")]
        check(len(keys) > 10 and all(ca[k] == cb.get(k) for k in keys) and
              sorted(ca) == sorted(cb),
              f"{name}: final checkpoints hold identical weights, best weights, "
              f"optimiser state and counters ({len(keys)} entries)")
    # a different setting cannot be resumed
    bad = [x if x != "0.05" else "0.01" for x in recipe]
    p = run(["finetune", base, "-o", f"{w}/x.nnk", "--logdir", f"{w}/la", "--resume"] + bad,
            expect=1)
    check("lr=0.05" in p.stderr and "lr=0.01" in p.stderr and "different settings" in p.stderr,
          "resuming with another --lr is refused, naming the setting")
    # (d) the event files of the uninterrupted run
    check_events(f"{w}/la", ["train/loss", "train/accuracy", "train/learning_rate",
                             "val/loss", "val/accuracy", "train/batch_loss"],
                 epoch_lines(pa.stdout))
    check_report(f"{w}/la/report.html", 10)


def case_errors(fm):
    """(e) corrupt images, empty class folder, single class, bad options."""
    w = fresh("finetune-errors")
    d = f"{w}/data"
    for c in ("Bag", "Sneaker"):
        os.makedirs(f"{d}/{c}")
        for f in sorted(os.listdir(f"{fm}/train/{c}"))[:40]:
            shutil.copy(f"{fm}/train/{c}/{f}", f"{d}/{c}/{f}")
    real = open(f"{d}/Bag/" + sorted(os.listdir(f"{d}/Bag"))[0], "rb").read()
    open(f"{d}/Bag/corrupt.png", "wb").write(b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 10)
    open(f"{d}/Bag/truncated.png", "wb").write(real[:len(real) // 2])
    open(f"{d}/Sneaker/empty.jpg", "wb").write(b"")
    open(f"{d}/Sneaker/text.jpeg", "wb").write(b"this is not an image\n")
    bad = {"corrupt.png", "truncated.png", "empty.jpg", "text.jpeg"}
    try:  # colour and alpha images are converted to the model's gray input
        from PIL import Image
        g = Image.open(f"{d}/Bag/" + sorted(os.listdir(f"{d}/Bag"))[1])
        g.convert("RGB").save(f"{d}/Bag/rgb.jpg", quality=95)
        g.convert("RGBA").save(f"{d}/Bag/rgba.png")
    except ImportError:
        print("PIL missing: colour JPEG / RGBA PNG inputs not covered")
    base = f"{w}/lenet5.nnk"
    run(["zoo", "create", "lenet5", "-o", base])
    p = run(["finetune", base, "--data", d, "-o", f"{w}/out.nnk", "--epochs", "2",
             "--train-layers", "all", "--batch", "16", "--threads", THREADS])
    warned = re.findall(r"skipping unreadable image: (\S+?):", p.stderr)
    names = sorted(os.path.basename(x) for x in warned)
    check(names == sorted(bad), f"one warning per unreadable image over 2 epochs: {names}")
    check("skipped 4 unreadable images" in p.stdout, "the skipped images are counted")
    r = eval_json(f"{w}/out.nnk", d)
    check(r["skipped"] == 4 and r["images"] == 80 + (2 if "PIL" in sys.modules else 0),
          f"eval skips the same 4 images ({r['skipped']}) and evaluates the rest ({r['images']})")

    e = f"{w}/empty"
    subset(d, e, ["Bag", "Sneaker"])
    os.makedirs(f"{e}/Nothing_here")
    p = run(["finetune", base, "--data", e, "-o", f"{w}/x.nnk"], expect=1)
    check("Nothing_here" in p.stderr and "no .jpg, .jpeg or .png images" in p.stderr,
          "an empty class folder is named in the error")
    s = f"{w}/single"
    subset(d, s, ["Bag"])
    p = run(["finetune", base, "--data", s, "-o", f"{w}/x.nnk"], expect=1)
    check("found 1 class folder ('Bag')" in p.stderr and "at least 2" in p.stderr,
          "a single-class dataset is refused with a clear message")
    p = run(["finetune", base, "--data", d, "-o", f"{w}/x.nnk", "--train-layers", "last"],
            expect=1)
    check("--train-layers 'last'" in p.stderr, "a bad --train-layers is named")
    p = run(["finetune", base, "--data", d, "-o", f"{w}/x.nnk", "--optimizer", "rmsprop"],
            expect=2)
    check("rmsprop" in p.stderr, "an unknown optimizer is a usage error")
    p = run(["finetune", base, "--data", f"{w}/missing", "-o", f"{w}/x.nnk"], expect=1)
    check(f"{w}/missing" in p.stderr, "a missing data folder is named")
    o = f"{w}/other"
    subset(f"{fm}/test", o, ["Coat"], limit=3)
    p = run(["eval", f"{w}/out.nnk", "--data", o], expect=1)
    check("class 'Coat' is not one of the 2 classes" in p.stderr,
          "eval names a folder that is not one of the model's classes")
    for f in os.listdir(w):
        check(not f.startswith("x.nnk"), f"no output left behind by failed runs ({f})")


def main():
    case, fm = sys.argv[1], sys.argv[2]
    {"lenet": case_lenet, "transfer": case_transfer, "resume": case_resume,
     "errors": case_errors}[case](fm)
    if FAILED:
        print(f"{len(FAILED)} check(s) failed:\n  " + "\n  ".join(FAILED))
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
