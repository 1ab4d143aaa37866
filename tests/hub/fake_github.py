#!/usr/bin/env python3
"""fake_github.py — a stand-in for GitHub on 127.0.0.1 (stdlib only), for
the hub tests and the demo: the archive endpoint (a 302 to a codeload-style
URL, as github.com answers), the releases API, release downloads (a 302 to a
separate asset host), plain files, Range requests, and faults injected per
request path through a control endpoint. Counts bytes and requests.

  fake_github.py DATA [--https CERT KEY] [--port-file F]

DATA/repos/OWNER/REPO/            a repository tree (archived on the fly as
                                  REPO-REF/..., like GitHub's tarballs)
DATA/archives/OWNER/REPO/REF.tar.gz  a prepared archive (wins over repos/)
DATA/releases/OWNER/REPO/TAG/*    release assets
DATA/files/*                      plain files (index weights), also under
                                  /mirror/files/* for NNKIT_HUB_MIRROR tests
Endpoints: main host: /OWNER/REPO/archive/REF.tar.gz, /codeload/...,
/api/repos/OWNER/REPO/releases/tags/TAG, /OWNER/REPO/releases/download/..,
/files/..; asset host (second port): /assets/OWNER/REPO/TAG/NAME.
Control: POST /_control {"faults": {PATH: [FAULT, ...]}, "no_digest": [..]}
faults (consumed one per request): "drop" (half the body, then close),
an HTTP status ("500", "404", "401", ...; "429" adds Retry-After: 1), "slow" (stall 30 s), "delay"
(1 s pause, then serve). GET /_stats -> {"bytes", "requests", "auth"}.
"""
import hashlib, io, json, os, ssl, sys, tarfile, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DATA = None
LOCK = threading.Lock()
STATE = {"faults": {}, "no_digest": []}
STATS = {"bytes": {}, "requests": {}, "auth": {}}
BASE = {}


def count(kind, key, n=1):
    with LOCK:
        STATS[kind][key] = STATS[kind].get(key, 0) + n


def take_fault(path):
    with LOCK:
        q = STATE["faults"].get(path)
        if q:
            return q.pop(0)
    return None


def repo_tarball(owner, repo, ref):
    root = os.path.join(DATA, "repos", owner, repo)
    if not os.path.isdir(root):
        return None
    buf = io.BytesIO()
    top = "%s-%s" % (repo, ref.replace("/", "-"))
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as t:
        t.pax_headers = {"comment": "0" * 40}
        for dirpath, dirs, files in sorted(os.walk(root)):
            dirs.sort()
            for f in sorted(files):
                p = os.path.join(dirpath, f)
                t.add(p, arcname=top + "/" + os.path.relpath(p, root))
    return buf.getvalue()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send_plain(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        if self.path != "/_control":
            return self.send_plain(404)
        n = int(self.headers.get("Content-Length", "0"))
        req = json.loads(self.rfile.read(n) or b"{}")
        with LOCK:
            if req.get("reset"):
                STATE["faults"].clear()
                STATE["no_digest"] = []
                for k in STATS:
                    STATS[k].clear()
            for p, fl in req.get("faults", {}).items():
                STATE["faults"].setdefault(p, []).extend(fl)
            if "no_digest" in req:
                STATE["no_digest"] = req["no_digest"]
        self.send_plain(200, b"{}")

    def do_GET(self):
        path = self.path.split("?")[0]
        count("requests", path)
        auth = self.headers.get("Authorization")
        if auth:
            with LOCK:
                STATS["auth"].setdefault(path, []).append(auth)
        if path == "/_stats":
            with LOCK:
                body = json.dumps(STATS).encode()
            return self.send_plain(200, body, [("Content-Type", "application/json")])
        fault = take_fault(path)
        if fault and fault.isdigit() and fault != "429":
            return self.send_plain(int(fault), b"injected")
        if fault == "429":
            return self.send_plain(429, b"slow down", [("Retry-After", "1")])
        if fault == "delay":
            time.sleep(1)
        parts = path.strip("/").split("/")
        if self.server.role == "assets":
            if len(parts) == 5 and parts[0] == "assets":
                _, o, r, tag, name = parts
                return self.serve_file(os.path.join(DATA, "releases", o, r, tag, name), path, fault)
            return self.send_plain(404)
        # /OWNER/REPO/archive/REF.tar.gz -> 302 codeload, as GitHub does
        if len(parts) >= 4 and parts[2] == "archive" and path.endswith(".tar.gz"):
            ref = "/".join(parts[3:])[:-len(".tar.gz")]
            loc = "%s/codeload/%s/%s/tar.gz/%s" % (BASE["main"], parts[0], parts[1], ref)
            return self.send_plain(302, b"", [("Location", loc)])
        if len(parts) >= 5 and parts[0] == "codeload" and parts[3] == "tar.gz":
            o, r, ref = parts[1], parts[2], "/".join(parts[4:])
            pre = os.path.join(DATA, "archives", o, r, ref + ".tar.gz")
            if os.path.isfile(pre):
                return self.serve_file(pre, path, fault)
            body = repo_tarball(o, r, ref)
            if body is None:
                return self.send_plain(404, b"no such repo")
            return self.serve_bytes(body, path, fault, "application/x-gzip")
        if len(parts) == 6 and parts[:2] == ["api", "repos"] and parts[4:5] == ["releases"]:
            return self.send_plain(404)
        if len(parts) == 7 and parts[:2] == ["api", "repos"] and parts[4:6] == ["releases", "tags"]:
            o, r, tag = parts[2], parts[3], parts[6]
            d = os.path.join(DATA, "releases", o, r, tag)
            if not os.path.isdir(d):
                return self.send_plain(404, b'{"message": "Not Found"}')
            assets = []
            for i, name in enumerate(sorted(os.listdir(d))):
                p = os.path.join(d, name)
                with open(p, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
                assets.append({
                    "id": i + 1, "name": name, "size": os.path.getsize(p),
                    "browser_download_url": "%s/%s/%s/releases/download/%s/%s"
                    % (BASE["main"], o, r, tag, name),
                    "digest": None if name in STATE["no_digest"] else "sha256:" + digest})
            body = json.dumps({"tag_name": tag, "assets": assets}).encode()
            return self.send_plain(200, body, [("Content-Type", "application/json")])
        if len(parts) == 6 and parts[2:4] == ["releases", "download"]:
            o, r, tag, name = parts[0], parts[1], parts[4], parts[5]
            loc = "%s/assets/%s/%s/%s/%s" % (BASE["assets"], o, r, tag, name)
            return self.send_plain(302, b"", [("Location", loc)])
        if parts[0] == "files" or parts[:2] == ["mirror", "files"]:
            rel = "/".join(parts[1:] if parts[0] == "files" else parts[2:])
            return self.serve_file(os.path.join(DATA, "files", rel), path, fault)
        return self.send_plain(404, b"not found")

    def serve_file(self, p, key, fault):
        if ".." in p or not os.path.isfile(p):
            return self.send_plain(404, b"not found")
        with open(p, "rb") as f:
            return self.serve_bytes(f.read(), key, fault, "application/octet-stream")

    def serve_bytes(self, data, key, fault, ctype):
        start, code = 0, 200
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
            if start >= len(data):
                return self.send_plain(416, b"", [("Content-Range", "bytes */%d" % len(data))])
            code = 206
        body = data[start:]
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        if code == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        self.end_headers()
        if fault == "slow":
            time.sleep(30)
            return
        if fault == "drop":
            half = body[: max(1, len(body) // 2)]
            self.wfile.write(half)
            self.wfile.flush()
            count("bytes", key, len(half))
            self.close_connection = True
            try:
                import socket
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.wfile.write(body)
        count("bytes", key, len(body))


def serve(role, ctx):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.handle_error = lambda request, address: None  # dropped clients
    srv.role = role
    if ctx:
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    scheme = "https" if ctx else "http"
    BASE[role] = "%s://127.0.0.1:%d" % (scheme, srv.server_address[1])
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def main():
    global DATA
    args = sys.argv[1:]
    DATA = os.path.abspath(args.pop(0))
    ctx, port_file = None, None
    while args:
        a = args.pop(0)
        if a == "--https":
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(args.pop(0), args.pop(0))
        elif a == "--port-file":
            port_file = args.pop(0)
    serve("main", ctx)
    serve("assets", ctx)
    line = BASE["main"] + "\n"
    if port_file:
        with open(port_file + ".tmp", "w") as f:
            f.write(line)
        os.rename(port_file + ".tmp", port_file)
    sys.stdout.write(line)
    sys.stdout.flush()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
