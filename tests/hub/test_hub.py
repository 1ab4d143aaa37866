#!/usr/bin/env python3
"""test_hub.py — end-to-end checks of `nnkit hub` against fake_github.py on
127.0.0.1 (HTTP, and HTTPS with a CA made here with the openssl CLI):
repository, release-asset and index pulls whose models run and match torch;
faults (dropped connection resumed without re-downloading bytes, 500/429
then success, 404/401 without retry, wrong SHA-256 leaving nothing behind,
a stalled server and the timeout, hostile archives, untrusted owner, TLS
that does not verify, concurrent pulls, offline mode), the token, the
mirror, the progress bar and list/info/rm/verify.

Environment: NNKIT_BIN (the nnkit binary), NNKIT_SRC, NNKIT_TEST_TMP.
Run with /usr/bin/python3 (numpy and torch for the reference data).
"""
import hashlib, io, json, os, pty, select, shutil, ssl, subprocess, sys
import tarfile, time, urllib.request
import numpy as np

BIN = os.environ["NNKIT_BIN"]
SRC = os.environ.get("NNKIT_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
HERE = os.path.dirname(os.path.abspath(__file__))
T = os.path.join(os.environ.get("NNKIT_TEST_TMP", "/tmp"), "hub.%d" % os.getpid())
PY = sys.executable
FAILS = []
PASSES = [0]
ONLY = set(sys.argv[1:])


def check(cond, what, detail=""):
    if cond:
        PASSES[0] += 1
    else:
        FAILS.append(what)
        print("FAIL: %s %s" % (what, detail))


class Server:
    def __init__(self, data, https=None):
        self.data = data
        pf = os.path.join(data, "port.%d" % len(os.listdir(data)))
        args = [PY, os.path.join(HERE, "fake_github.py"), data, "--port-file", pf]
        if https:
            args += ["--https"] + list(https)
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        for _ in range(100):
            if os.path.exists(pf):
                break
            time.sleep(0.05)
        self.base = open(pf).read().strip()
        self.ctx = None
        if https:
            self.ctx = ssl.create_default_context(cafile=os.path.join(T, "ca.pem"))

    def _req(self, path, body=None):
        r = urllib.request.Request(self.base + path, data=body, method="POST" if body else "GET")
        with urllib.request.urlopen(r, context=self.ctx, timeout=10) as f:
            return json.loads(f.read() or b"{}")

    def control(self, **kw):
        return self._req("/_control", json.dumps(kw).encode())

    def stats(self):
        return self._req("/_stats")

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def env_for(home, srv, **extra):
    e = {k: v for k, v in os.environ.items()
         if not k.startswith(("NNKIT_HUB", "NNKIT_GITHUB", "NNKIT_OFFLINE", "GITHUB_TOKEN",
                              "CURL_CA_BUNDLE", "SSL_CERT_FILE", "http_proxy",
                              "https_proxy", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"))}
    e.update(NNKIT_HOME=home, NNKIT_GITHUB_URL=srv.base,
             NNKIT_GITHUB_API_URL=srv.base + "/api", NNKIT_HUB_BACKOFF_MS="50",
             NNKIT_HUB_TIMEOUT="10", NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
    e.update(extra)
    return e


def nnkit(env, *args, timeout=120):
    return subprocess.run([BIN] + list(args), env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


def home(name):
    h = os.path.join(T, "home-" + name)
    shutil.rmtree(h, ignore_errors=True)
    return h


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def run_model(env, model, inp, out_dir):
    shutil.rmtree(out_dir, ignore_errors=True)
    r = nnkit(env, "run", model, "--input", inp, "--output-dir", out_dir)
    if r.returncode != 0:
        print(r.stderr)
        return None
    return np.load(os.path.join(out_dir, "logits.npy"))


def cache_files(h):
    out = []
    for d in ("entries", "models", "blobs/sha256", "downloads"):
        p = os.path.join(h, d)
        if os.path.isdir(p):
            out += [f for f in os.listdir(p) if not f.endswith(".lock")]
    return out


# ---------------------------------------------------------------------------

def make_certs():
    def ossl(*a):
        subprocess.run(["openssl"] + list(a), check=True, capture_output=True)
    for ca in ("ca", "otherca"):
        ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=nnkit test %s" % ca, "-keyout", os.path.join(T, ca + ".key"),
             "-out", os.path.join(T, ca + ".pem"))
    ext = os.path.join(T, "san.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
         "-keyout", os.path.join(T, "server.key"), "-out", os.path.join(T, "server.csr"))
    ossl("x509", "-req", "-in", os.path.join(T, "server.csr"), "-CA", os.path.join(T, "ca.pem"),
         "-CAkey", os.path.join(T, "ca.key"), "-CAcreateserial", "-days", "2",
         "-extfile", ext, "-out", os.path.join(T, "server.pem"))


def hostile_archives(data):
    def make(repo, entries):
        d = os.path.join(data, "archives", "evil", repo)
        os.makedirs(d, exist_ok=True)
        with tarfile.open(os.path.join(d, "HEAD.tar.gz"), "w:gz") as t:
            for info, payload in entries:
                t.addfile(info, io.BytesIO(payload) if payload is not None else None)

    def reg(name, data=b"x"):
        i = tarfile.TarInfo(name)
        i.size = len(data)
        return i, data

    def link(name, target, kind=tarfile.SYMTYPE):
        i = tarfile.TarInfo(name)
        i.type = kind
        i.linkname = target
        return i, None

    manifest = json.dumps({"models": {"m": {"arch": "lenet5"}}}).encode()
    make("dotdot", [reg("r-HEAD/nnkit-hub.json", manifest), reg("r-HEAD/../../escaped-dotdot.txt")])
    make("absolute", [reg("r-HEAD/nnkit-hub.json", manifest),
                      reg(os.path.join(T, "escaped-abs.txt"))])
    make("symlink", [reg("r-HEAD/nnkit-hub.json", manifest),
                     link("r-HEAD/up", "../../../../.."),
                     reg("r-HEAD/up/escaped-link.txt")])
    make("hardlink", [reg("r-HEAD/nnkit-hub.json", manifest),
                      link("r-HEAD/hl", "../../etc/passwd", tarfile.LNKTYPE)])
    dev = tarfile.TarInfo("r-HEAD/null")
    dev.type = tarfile.CHRTYPE
    dev.devmajor, dev.devminor = 1, 3
    make("device", [reg("r-HEAD/nnkit-hub.json", manifest), (dev, None)])
    make("oversized", [reg("r-HEAD/nnkit-hub.json", manifest),
                       reg("r-HEAD/big.bin", b"\0" * (2 << 20))])
    # A repository with a manifest but a weights hash that does not match.
    make("badsha", [reg("r-HEAD/nnkit-hub.json", json.dumps({"models": {"m": {
        "arch": "lenet5", "weights": {"file": "w.pth", "sha256": "0" * 64}}}}).encode()),
        reg("r-HEAD/w.pth", b"not weights")])


def main():
    shutil.rmtree(T, ignore_errors=True)
    os.makedirs(T)
    data = os.path.join(T, "data")
    os.makedirs(data)
    srv = Server(data)
    try:
        run_all(srv, data)
    finally:
        srv.stop()
    print("%d passed, %d failed" % (PASSES[0], len(FAILS)))
    if not FAILS:
        shutil.rmtree(T, ignore_errors=True)
    return 1 if FAILS else 0


def want(name):
    return not ONLY or name in ONLY


def run_all(srv, data):
    base = srv.base
    sha = subprocess.run([PY, os.path.join(SRC, "scripts", "make-hub-demo.py"), data, base],
                         check=True, capture_output=True, text=True).stdout.strip()
    asset = os.path.join(data, "releases", "demo", "lenet", "v1", "lenet5.pth")
    asset_path = "/assets/demo/lenet/v1/lenet5.pth"
    api_path = "/api/repos/demo/lenet/releases/tags/v1"
    mnv3 = subprocess.run([PY, os.path.join(HERE, "gen_weights.py"), data, asset],
                          check=True, capture_output=True, text=True).stdout.strip()
    # Another repository of the same owner, and an unverified asset.
    shutil.copytree(os.path.join(data, "repos", "demo", "lenet"), os.path.join(data, "repos", "demo", "other"))
    os.makedirs(os.path.join(data, "releases", "demo", "lenet", "v2"))
    with open(os.path.join(data, "releases", "demo", "lenet", "v2", "notes.txt"), "w") as f:
        f.write("release notes\n")
    hostile_archives(data)
    lenet_in, lenet_ref = os.path.join(data, "lenet5_in.npy"), np.load(os.path.join(data, "lenet5_out.npy"))

    # --- repository pull with a manifest; trust ---------------------------
    if want("repo"):
        h = home("repo")
        e = env_for(h, srv)
        r = nnkit(e, "hub", "pull", "demo/lenet", "lenet5")
        check(r.returncode == 1 and "not trusted" in r.stderr and "--trust" in r.stderr,
              "untrusted owner refused without --trust", r.stderr)
        check(not os.path.exists(os.path.join(h, "entries")) or not os.listdir(os.path.join(h, "entries")),
              "nothing cached for an untrusted owner")
        r = nnkit(e, "hub", "pull", "demo/lenet", "lenet5", "--trust")
        check(r.returncode == 0, "repo pull --trust", r.stderr)
        path = r.stdout.strip()
        check(path.startswith(h) and path.endswith(".nnk") and os.path.isfile(path), "repo pull prints the cached .nnk", path)
        y = run_model(e, path, lenet_in, os.path.join(T, "o-repo"))
        check(y is not None and np.allclose(y, lenet_ref, rtol=1e-4, atol=1e-5),
              "repo model matches torch", "" if y is None else np.abs(y - lenet_ref).max())
        info = nnkit(e, "info", path).stdout
        check("eight" in info or "zero" in info, "labels from labels.txt", info[-400:])
        r = nnkit(e, "hub", "pull", "demo/other", "lenet5")
        check(r.returncode == 0, "trusted owner remembered", r.stderr)
        r = nnkit(e, "hub", "pull", "demo/lenet:HEAD", "nosuch", "--trust")
        check(r.returncode == 1 and "nosuch" in r.stderr and "lenet5" in r.stderr, "unknown manifest model named", r.stderr)
        out = os.path.join(T, "repo-out.nnk")
        r = nnkit(e, "hub", "pull", "demo/lenet", "lenet5", "-o", out)
        check(r.returncode == 0 and os.path.isfile(out) and r.stdout.strip() == out, "-o writes OUT", r.stderr)
        y = run_model(e, out, lenet_in, os.path.join(T, "o-repo2"))
        check(y is not None and np.allclose(y, lenet_ref, rtol=1e-4, atol=1e-5), "-o model matches torch")

        # offline: cached entry works without the network, missing says so
        n0 = sum(srv.stats()["requests"].values())
        r = nnkit(dict(e, NNKIT_OFFLINE="1"), "hub", "pull", "demo/lenet", "lenet5")
        check(r.returncode == 0 and r.stdout.strip() == path, "offline pull of a cached entry", r.stderr)
        r = nnkit(e, "hub", "pull", "mobilenet_v3_small", "--offline")
        check(r.returncode == 1 and "not in the cache" in r.stderr and "offline" in r.stderr,
              "offline pull of a missing entry says so", r.stderr)
        check(sum(srv.stats()["requests"].values()) == n0 + 1, "offline never touches the network")  # +1 is /_stats

        # list / info / verify / rm
        r = nnkit(e, "hub", "list", "--json")
        lst = json.loads(r.stdout)
        check(sorted(x["name"] for x in lst) == ["demo/lenet:HEAD/lenet5", "demo/other:HEAD/lenet5"],
              "hub list --json", r.stdout)
        r = nnkit(e, "hub", "info", "demo/lenet:HEAD/lenet5")
        check(r.returncode == 0 and sha in r.stdout and "verified" in r.stdout, "hub info", r.stdout)
        r = nnkit(e, "hub", "verify")
        check(r.returncode == 0 and r.stdout.count("ok") == 2, "hub verify on a good cache", r.stdout)
        with open(path, "r+b") as f:
            f.seek(100)
            f.write(b"\xff\xfe")
        r = nnkit(e, "hub", "verify")
        check(r.returncode == 1 and "REMOVED" in r.stdout and "demo/lenet:HEAD/lenet5" in r.stdout,
              "hub verify reports corruption", r.stdout + r.stderr)
        check(not os.path.exists(path), "corrupt model removed")
        r = nnkit(e, "hub", "rm", "demo/other:HEAD/lenet5")
        check(r.returncode == 0 and nnkit(e, "hub", "list", "--json").stdout.strip() == "[]", "hub rm", r.stderr)
        check(not os.listdir(os.path.join(h, "blobs", "sha256")), "hub rm drops unused downloads")
        r = nnkit(e, "hub", "info", "demo/other:HEAD/lenet5")
        check(r.returncode == 1 and "not in the cache" in r.stderr, "info after rm")

    # --- release asset ----------------------------------------------------
    if want("asset"):
        h = home("asset")
        srv.control(reset=True)
        e = env_for(h, srv, GITHUB_TOKEN="tok-SECRET-1234")
        out = os.path.join(T, "asset.pth")
        r = nnkit(e, "hub", "pull", "demo/lenet@v1", "lenet5.pth", "--trust", "-o", out)
        check(r.returncode == 0 and sha256(out) == sha, "asset pull", r.stderr)
        st = srv.stats()
        check(any("tok-SECRET-1234" in a for a in st["auth"].get(api_path, [])), "token sent to the API")
        check(asset_path not in st["auth"], "token not sent to the asset host", st["auth"])
        check("tok-SECRET" not in r.stderr + r.stdout, "token never printed")
        m = os.path.join(T, "asset-model.nnk")
        r = nnkit(e, "zoo", "create", "lenet5", "--weights", out, "-o", m)
        y = run_model(e, m, lenet_in, os.path.join(T, "o-asset"))
        check(y is not None and np.allclose(y, lenet_ref, rtol=1e-4, atol=1e-5), "asset model matches torch")
        r = nnkit(e, "hub", "pull", "demo/lenet@v9", "lenet5.pth")
        check(r.returncode == 1 and "404" in r.stderr and "tok-SECRET" not in r.stderr, "404 reported", r.stderr)
        check(srv.stats()["requests"].get("/api/repos/demo/lenet/releases/tags/v9") == 1, "404 not retried")
        r = nnkit(e, "hub", "pull", "demo/lenet@v1", "nosuch.bin")
        check(r.returncode == 1 and "lenet5.pth" in r.stderr, "missing asset lists assets", r.stderr)
        # no digest published: recorded and shown
        srv.control(no_digest=["notes.txt"])
        r = nnkit(e, "hub", "pull", "demo/lenet@v2", "notes.txt")
        nsha = sha256(os.path.join(data, "releases", "demo", "lenet", "v2", "notes.txt"))
        check(r.returncode == 0 and nsha in r.stderr and "recorded" in r.stderr, "hash recorded and shown", r.stderr)
        r = nnkit(e, "hub", "info", "demo/lenet@v2/notes.txt")
        check("recorded" in r.stdout, "info says the hash was only recorded", r.stdout)

    # --- faults -----------------------------------------------------------
    if want("faults"):
        # dropped connection mid-body, then resumed with Range
        h = home("drop")
        srv.control(reset=True, faults={asset_path: ["drop"]})
        e = env_for(h, srv)
        r = nnkit(e, "hub", "pull", "demo/lenet@v1", "lenet5.pth", "--trust")
        st = srv.stats()
        check(r.returncode == 0 and sha256(r.stdout.strip()) == sha, "resumed download has the right hash", r.stderr)
        check(st["requests"].get(asset_path) == 2, "one retry after the drop", st["requests"])
        check(st["bytes"].get(asset_path) == os.path.getsize(asset),
              "no byte downloaded twice", "%s vs %d" % (st["bytes"].get(asset_path), os.path.getsize(asset)))

        # 500 then success; 429 with Retry-After
        h = home("500")
        srv.control(reset=True, faults={api_path: ["500", "503"]})
        r = nnkit(env_for(h, srv), "hub", "pull", "demo/lenet@v1", "lenet5.pth", "--trust")
        check(r.returncode == 0 and srv.stats()["requests"].get(api_path) == 3, "500, 503, then success", r.stderr)
        h = home("429")
        srv.control(reset=True, faults={api_path: ["429"]})
        t0 = time.time()
        r = nnkit(env_for(h, srv), "hub", "pull", "demo/lenet@v1", "lenet5.pth", "--trust")
        check(r.returncode == 0 and time.time() - t0 >= 0.9, "429 waits Retry-After, then succeeds", r.stderr)
        # 401: permanent
        h = home("401")
        srv.control(reset=True, faults={api_path: ["401"]})
        r = nnkit(env_for(h, srv), "hub", "pull", "demo/lenet@v1", "lenet5.pth", "--trust")
        check(r.returncode == 1 and "401" in r.stderr and srv.stats()["requests"].get(api_path) == 1,
              "401 not retried", r.stderr)
        # persistent 500 gives up after the retries
        srv.control(reset=True, faults={api_path: ["500"] * 10})
        r = nnkit(env_for(h, srv, NNKIT_HUB_RETRIES="2"), "hub", "pull", "demo/lenet@v1", "lenet5.pth", "--trust")
        check(r.returncode == 1 and "500" in r.stderr and srv.stats()["requests"].get(api_path) == 3,
              "gives up after NNKIT_HUB_RETRIES", r.stderr)

        # wrong SHA-256: nothing left in the cache
        h = home("badsha")
        srv.control(reset=True)
        r = nnkit(env_for(h, srv), "hub", "pull", "demo/lenet@v1", "lenet5.pth", "--trust", "--sha256", "ab" * 32)
        check(r.returncode == 1 and "ab" * 32 in r.stderr and sha in r.stderr, "checksum error names both hashes", r.stderr)
        check(cache_files(h) == [], "nothing cached after a mismatch", cache_files(h))
        bad_idx = os.path.join(data, "files", "index-bad.json")
        shutil.copy(os.path.join(data, "files", mnv3), os.path.join(data, "files", "mobilenet_v3_small-deadbeef.pth"))
        with open(bad_idx, "w") as f:
            json.dump({"models": {"mobilenet_v3_small": {"arch": "mobilenet_v3_small", "weights": {
                "url": base + "/files/mobilenet_v3_small-deadbeef.pth"}}}}, f)
        r = nnkit(env_for(h, srv, NNKIT_HUB_INDEX=bad_idx), "hub", "pull", "mobilenet_v3_small")
        check(r.returncode == 1 and "deadbeef" in r.stderr and "mismatch" in r.stderr,
              "index file-name hash checked like torch.hub", r.stderr)
        check(cache_files(h) == [], "nothing cached after an index mismatch", cache_files(h))
        r = nnkit(env_for(h, srv), "hub", "pull", "evil/badsha", "m", "--trust")
        check(r.returncode == 1 and "0" * 64 in r.stderr, "manifest weights hash checked", r.stderr)

        # a stalled server: the timeout ends it quickly
        h = home("slow")
        srv.control(reset=True, faults={asset_path: ["slow"]})
        t0 = time.time()
        r = nnkit(env_for(h, srv, NNKIT_HUB_TIMEOUT="1", NNKIT_HUB_RETRIES="0"),
                  "hub", "pull", "demo/lenet@v1", "lenet5.pth", "--trust", timeout=60)
        dt = time.time() - t0
        check(r.returncode == 1 and dt < 10 and ("imeout" in r.stderr or "timed out" in r.stderr),
              "stalled server times out", "%.1fs %s" % (dt, r.stderr))

    # --- hostile archives ---------------------------------------------------
    if want("archives"):
        h = home("evil")
        srv.control(reset=True)
        for repo, needle in (("dotdot", ".."), ("absolute", "absolute"), ("symlink", "symbolic link"),
                             ("hardlink", "hard link"), ("device", "device"), ("oversized", "size limit")):
            r = nnkit(env_for(h, srv, NNKIT_HUB_MAX_EXTRACT_MB="1"), "hub", "pull", "evil/" + repo, "m", "--trust")
            check(r.returncode == 1 and "refusing archive entry" in r.stderr and needle in r.stderr,
                  "hostile archive refused: " + repo, r.stderr)
        for f in ("escaped-dotdot.txt", "escaped-abs.txt", "escaped-link.txt"):
            found = [os.path.join(dp, f) for dp, _, fs in os.walk(T) if f in fs]
            check(not found, "nothing written outside: " + f, found)
        check(not os.listdir(os.path.join(h, "tmp")), "extraction folders removed")

    # --- index pull (NNKIT_HUB_INDEX at the test server), mirror -----------
    if want("index"):
        h = home("index")
        srv.control(reset=True)
        idx = {"nnkit_hub_index": 1, "models": {"mobilenet_v3_small": {
            "arch": "mobilenet_v3_small", "weights": {"url": "https://download.example/models/" + mnv3},
            "labels": "imagenet", "preprocessing": {"resize": 256, "crop": 224,
            "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}}}}
        idx["models"]["mobilenet_v3_small"]["weights"]["url"] = base + "/files/" + mnv3
        with open(os.path.join(data, "files", "index.json"), "w") as f:
            json.dump(idx, f)
        e = env_for(h, srv, NNKIT_HUB_INDEX=base + "/files/index.json")
        r = nnkit(e, "hub", "pull", "mobilenet_v3_small", timeout=300)
        check(r.returncode == 0, "index pull", r.stderr)
        y = run_model(e, r.stdout.strip(), os.path.join(data, "mnv3s_in.npy"), os.path.join(T, "o-idx"))
        ref = np.load(os.path.join(data, "mnv3s_out.npy"))
        check(y is not None and np.allclose(y, ref, rtol=1e-3, atol=2e-4), "index model matches torch",
              "" if y is None else np.abs(y - ref).max())
        r = nnkit(e, "hub", "pull", "resnet18")
        check(r.returncode == 1 and "not in the hub index" in r.stderr, "unknown index name", r.stderr)
        # the mirror rewrites weight URLs
        h = home("mirror")
        srv.control(reset=True)
        e = env_for(h, srv, NNKIT_HUB_INDEX=os.path.join(data, "files", "index.json"),
                    NNKIT_HUB_MIRROR=base + "/mirror")
        r = nnkit(e, "hub", "pull", "mobilenet_v3_small", timeout=300)
        st = srv.stats()["requests"]
        check(r.returncode == 0 and st.get("/mirror/files/" + mnv3) == 1 and "/files/" + mnv3 not in st,
              "NNKIT_HUB_MIRROR", "%s %s" % (r.stderr, st))

    # --- concurrency --------------------------------------------------------
    if want("concurrent"):
        h = home("conc")
        srv.control(reset=True, faults={"/codeload/demo/lenet/tar.gz/HEAD": ["delay", "delay"]})
        e = env_for(h, srv)
        ps = [subprocess.Popen([BIN, "hub", "pull", "demo/lenet", "lenet5", "--trust"], env=e,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True) for _ in range(2)]
        outs = [p.communicate(timeout=120) for p in ps]
        check(all(p.returncode == 0 for p in ps), "two concurrent pulls succeed", outs)
        check(outs[0][0] == outs[1][0] and os.path.isfile(outs[0][0].strip()), "same cached path", outs)
        lst = json.loads(nnkit(e, "hub", "list", "--json").stdout)
        check(len(lst) == 1, "one cache entry", lst)
        check(srv.stats()["requests"].get("/codeload/demo/lenet/tar.gz/HEAD") == 1, "downloaded once")
        r = nnkit(e, "hub", "verify")
        check(r.returncode == 0, "the entry verifies", r.stdout)

    # --- progress bar on a TTY only ----------------------------------------
    if want("progress"):
        h = home("tty")
        e = env_for(h, srv)
        r = nnkit(e, "hub", "pull", "demo/lenet@v1", "lenet5.pth", "--trust", "--force")
        check(r.returncode == 0 and r.stderr == "", "quiet when piped", r.stderr)
        master, slave = pty.openpty()
        p = subprocess.Popen([BIN, "hub", "pull", "demo/lenet@v1", "lenet5.pth", "--force"], env=e,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        buf = b""
        while True:
            rd, _, _ = select.select([master], [], [], 10)
            if not rd:
                break
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
        p.wait()
        os.close(master)
        check(p.returncode == 0 and b"ETA" in buf and b"/s" in buf, "progress bar on a TTY", buf[-300:])

    # --- TLS ------------------------------------------------------------------
    if want("tls"):
        make_certs()
        tdata = os.path.join(T, "tlsdata")
        shutil.copytree(os.path.join(data, "releases"), os.path.join(tdata, "releases"))
        tsrv = Server(tdata, https=(os.path.join(T, "server.pem"), os.path.join(T, "server.key")))
        try:
            h = home("tls")
            r = nnkit(env_for(h, tsrv, CURL_CA_BUNDLE=os.path.join(T, "ca.pem")),
                      "hub", "pull", "demo/lenet@v1", "lenet5.pth", "--trust")
            check(r.returncode == 0 and sha256(r.stdout.strip()) == sha, "HTTPS pull with the test CA", r.stderr)
            h = home("tls2")
            r = nnkit(env_for(h, tsrv, CURL_CA_BUNDLE=os.path.join(T, "otherca.pem")),
                      "hub", "pull", "demo/lenet@v1", "lenet5.pth", "--trust")
            check(r.returncode == 1 and "certificate" in r.stderr, "certificate from another CA refused", r.stderr)
            r = nnkit(env_for(h, tsrv), "hub", "pull", "demo/lenet@v1", "lenet5.pth", "--trust")
            check(r.returncode == 1 and "certificate" in r.stderr, "system CAs do not trust the test CA", r.stderr)
            r = nnkit(env_for(h, tsrv, SSL_CERT_FILE=os.path.join(T, "ca.pem")),
                      "hub", "pull", "demo/lenet@v1", "lenet5.pth", "--trust")
            check(r.returncode == 0, "SSL_CERT_FILE is honoured", r.stderr)
        finally:
            tsrv.stop()


if __name__ == "__main__":
    sys.exit(main())
