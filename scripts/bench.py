#!/usr/bin/env python3
"""hfgit against git + git-lfs on the same data, in one run, on this machine.

Prints wall time, peak RSS and the ratio (git + git-lfs time / hfgit time) for: commit, push to a
local bare remote (same filesystem), clone from it; for one 1 GiB file and for 200 x 5 MiB files.
With --http, the same for push and clone over HTTP against the loopback forge (nginx + git
http-backend + giftless) and against rudolfs, both started here (scripts/peers; rudolfs as scripts/test.sh caches it in ~/.cache/hfgit-test-peers),
plus each server's own floor: curl uploading and downloading the same objects through the batch
API's actions, 8 at a time.
With --capped RATE (nginx's limit_rate, e.g. 40m = 40 MB/s per connection): a clone of one
--size-mib object whose storage is real nginx capping every connection, as CDNs do, with a
batch endpoint (here, in Python) whose download actions point at it; hfgit (parallel ranges)
against git + git-lfs (one connection per object), and curl with 8 ranges at once as the floor.
With --flat-memory GIB (off by default: it needs about 2 x GIB of disk): peak RSS of hfgit's add,
commit, status, push, pull and clone of one GIB GiB file.
Every run ends with Xet chunk + hash (hfgit xet-hash) against openssl's SHA-256 and hf_xet's
own hash_files on one --size-mib file, in wall and user CPU time (--xet-hash-only: just that).
With --fs xfs: the local cases on a fresh XFS with reflink (a loop device; needs root), where
add and commit can share the source's extents instead of writing copies.
Usage: python3 scripts/bench.py [--http [--servers giftless,rudolfs]] [--capped 40m] [--flat-memory 10] [--xet-hash-only] [--fs xfs] [--size-mib 1024] [--files 200] [--file-mib 5] [--workdir DIR]
Needs git and git-lfs; builds hfgit in release mode first.
"""
import argparse, os, shutil, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(cmd, cwd, env):
    """Wall time and peak RSS (/usr/bin/time -f %M) of one command. Dirty pages are flushed
    first, so neither tool pays for the other's (or its own previous step's) writeback."""
    subprocess.run(["sync"], check=True)
    t = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, cwd=cwd, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stderr.decode(errors='replace')}")
    rss_kib = int(r.stderr.decode().strip().splitlines()[-1])
    return dt, rss_kib / 1024


def peak_rss(cmd, cwd, env):
    """Wall time and peak RSS in MiB of one command, from the kernel's own account (wait4's
    rusage: the largest resident set of the process and of the children it waited for)."""
    subprocess.run(["sync"], check=True)
    t = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{err.decode(errors='replace')}")
    return dt, usage.ru_maxrss / 1024


def setup(workdir, prefix):
    """Builds hfgit (release); returns its path, the work directory and a sealed environment."""
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    hfgit = os.path.join(ROOT, "target", "release", "hfgit")
    work = workdir or tempfile.mkdtemp(prefix=prefix)
    os.makedirs(work, exist_ok=True)
    home = os.path.join(work, "home")
    os.makedirs(home, exist_ok=True)
    env = dict(os.environ, HOME=home, GIT_CONFIG_NOSYSTEM="1",
               GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@b", GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@b")
    return hfgit, work, env


def write_random(path, mib):
    with open(path, "wb") as f:
        chunk = os.urandom(1 << 20)
        for i in range(mib):
            # distinct content per MiB without paying urandom for all of it
            f.write(i.to_bytes(8, "little") + chunk[8:])


def drop_caches_note():
    return "warm page cache, sync before each timed step"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--file-mib", type=int, default=5)
    ap.add_argument("--workdir")
    ap.add_argument("--http", action="store_true")
    ap.add_argument("--servers", default="giftless,rudolfs", help="with --http: which LFS servers")
    ap.add_argument("--flat-memory", type=float, metavar="GIB", default=0,
                    help="only: peak RSS of hfgit add, commit, status, push (local bare), pull and clone of one GIB GiB file "
                         "(sparse source: zeros; needs about 2 x GIB of free disk; off by default)")
    ap.add_argument("--hf-xet-python", default=os.path.expanduser("~/.cache/hfgit-test-peers/py/bin/python"),
                    help="a Python with hf_xet, for the reference client's chunk + hash in the same run (scripts/test.sh makes it)")
    ap.add_argument("--fs", choices=["here", "xfs"], default="here",
                    help="xfs: run the local cases on a fresh XFS with reflink (loop device; needs root and mkfs.xfs)")
    ap.add_argument("--xet-hash-only", action="store_true", help="only the last table: Xet chunk + hash against SHA-256 (and hf_xet)")
    ap.add_argument("--capped", metavar="RATE", help="clone through nginx capped at RATE per connection (limit_rate syntax, e.g. 40m)")
    a = ap.parse_args()

    hfgit, work, env = setup(a.workdir, "hfgit-bench-")
    top = work
    fs_note = "the work directory's filesystem"
    if a.fs == "xfs":
        # a fresh XFS with reflink on a loop device (needs root and mkfs.xfs): where the
        # filesystem can share extents, add and commit write no copy at all
        img, mnt = os.path.join(top, "xfs.img"), os.path.join(top, "xfs")
        os.makedirs(mnt, exist_ok=True)
        with open(img, "wb") as f:
            f.truncate((16 * a.size_mib + 8 * a.files * a.file_mib + 4096) << 20)  # sparse
        subprocess.run(["mkfs.xfs", "-q", "-m", "reflink=1", img], check=True)
        subprocess.run(["mount", "-o", "loop", img, mnt], check=True)
        work = mnt
        fs_note = "XFS with reflink on a loop device"
    subprocess.run(["git", "lfs", "install", "--skip-repo"], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["git", "config", "--global", "init.defaultBranch", "main"], env=env, check=True)
    rows = []
    floors = []
    hash_floors = []

    def case_dir(name, files):
        """A fresh directory for one case, with the case's random files in its src/."""
        d = os.path.join(work, name)
        shutil.rmtree(d, ignore_errors=True)
        src = os.path.join(d, "src")
        os.makedirs(src)
        for fname, mib in files:
            write_random(os.path.join(src, fname), mib)
        return d, src

    def case(label, files):
        d, src = case_dir(label, files)
        # hfgit
        h = os.path.join(d, "h")
        subprocess.run([hfgit, "init", h], env=env, check=True, stderr=subprocess.DEVNULL)
        for name, _ in files:
            shutil.copyfile(os.path.join(src, name), os.path.join(h, name))
        hc = timed([hfgit, "commit", "-m", "w"], h, env)
        hp = timed([hfgit, "push", os.path.join(d, "h.git"), "--create"], h, env)
        hl = timed([hfgit, "clone", os.path.join(d, "h.git"), os.path.join(d, "hc")], d, env)
        # git + git-lfs
        g = os.path.join(d, "g")
        subprocess.run(["git", "init", "-q", g], env=env, check=True)
        subprocess.run(["git", "lfs", "track", "*.bin"], cwd=g, env=env, check=True, stdout=subprocess.DEVNULL)
        for name, _ in files:
            shutil.copyfile(os.path.join(src, name), os.path.join(g, name))
        gc = timed(["sh", "-c", "git add -A && git commit -qm w"], g, env)
        subprocess.run(["git", "init", "-q", "--bare", os.path.join(d, "g.git")], env=env, check=True)
        gp = timed(["git", "push", "-q", "file://" + os.path.join(d, "g.git"), "main"], g, env)
        gl = timed(["git", "clone", "-q", os.path.join(d, "g.git"), os.path.join(d, "gc")], d, env)
        # same bytes out
        for name, _ in files:
            for clone in ("hc", "gc"):
                p = os.path.join(d, clone, name)
                if os.path.getsize(p) != os.path.getsize(os.path.join(src, name)):
                    sys.exit(f"{clone}/{name}: wrong size")
        for op, hv, gv in (("commit", hc, gc), ("push (local bare)", hp, gp), ("clone (local bare)", hl, gl)):
            rows.append((label, op, gv, hv))
        # the physical floor of a commit: hashing the same files, 2 at a time (as openssl can)
        names = " ".join(n for n, _ in files)
        floor = timed(["sh", "-c", f"printf '%s\\n' {names} | xargs -P2 -n 25 openssl dgst -sha256 >/dev/null"], src, env)
        # init + add + commit from outside the repository, as a user starts. Twice: the first run
        # writes into pages the kernel takes fresh, which on a VM that gives free memory back to
        # its host (virtio-balloon free page reporting) cost a host fault each on first touch;
        # the second reuses the pages the first one's files held, as on a machine whose memory is
        # its own. Those files are emptied, not deleted: ext4 skips inodes deleted in the last 30
        # seconds when it allocates new ones, a search that grows with every file just deleted.
        def release_pages(top):
            for root, _, names_here in os.walk(top):
                for f in names_here:
                    p = os.path.join(root, f)
                    if os.path.isfile(p) and not os.path.islink(p):
                        os.truncate(p, 0)

        def init_add_commit(n):
            subprocess.run(["sync"], check=True)  # the git-lfs clone's writeback must not land on this
            marks = [time.perf_counter()]
            subprocess.run([hfgit, "init", n], env=env, check=True, stderr=subprocess.DEVNULL)
            marks.append(time.perf_counter())
            subprocess.run([hfgit, "add"] + [os.path.join(src, name) for name, _ in files], cwd=n, env=env, check=True, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
            marks.append(time.perf_counter())
            subprocess.run([hfgit, "commit", "-m", "w"], cwd=n, env=env, check=True, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
            marks.append(time.perf_counter())
            return marks[-1] - marks[0], " + ".join(f"{b - a:.2f}" for a, b in zip(marks, marks[1:]))

        first, _ = init_add_commit(os.path.join(d, "n"))
        release_pages(os.path.join(d, "n"))
        again, steps = init_add_commit(os.path.join(d, "n2"))
        # the copies add makes where the filesystem cannot share extents (work tree and store), as
        # cp makes them, in the pages the second run's files held
        release_pages(os.path.join(d, "n2"))
        two_cp = timed(["sh", "-c", f"mkdir -p ../c1 ../c2 && cp {names} ../c1/ && cp {names} ../c2/"], src, env)
        # and into fresh pages, as the first run wrote (c1 and c2 keep theirs)
        two_cp_fresh = timed(["sh", "-c", f"mkdir -p ../c3 ../c4 && cp {names} ../c3/ && cp {names} ../c4/"], src, env)
        hash_floors.append((label, floor[0], hc[0], two_cp_fresh[0], first, two_cp[0], again, steps))
        shutil.rmtree(d, ignore_errors=True)

    def http_case(label, files, server, forge, rudolfs):
        d, src = case_dir("http-" + server, files)
        tag = f"{server}-{len(files)}-{int(time.time() * 1000)}"
        lfsconfig = f"[lfs]\n\turl = {rudolfs}/api/bench/{{}}\n" if server == "rudolfs" else None
        results = {}
        for tool in ("hfgit", "git"):
            w = os.path.join(d, tool)
            url = f"{forge}/bench/{tool}-{tag}.git"
            if tool == "hfgit":
                subprocess.run([hfgit, "init", w], env=env, check=True, stderr=subprocess.DEVNULL)
            else:
                subprocess.run(["git", "init", "-q", w], env=env, check=True)
                subprocess.run(["git", "lfs", "track", "*.bin"], cwd=w, env=env, check=True, stdout=subprocess.DEVNULL)
            if lfsconfig:
                with open(os.path.join(w, ".lfsconfig"), "w") as f:
                    f.write(lfsconfig.format(f"{tool}-{tag}"))
            for name, _ in files:
                shutil.copyfile(os.path.join(src, name), os.path.join(w, name))
            if tool == "hfgit":
                subprocess.run([hfgit, "commit", "-m", "w"], cwd=w, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                push = timed([hfgit, "push", url], w, env)
                clone = timed([hfgit, "clone", url, os.path.join(d, "hc")], d, env)
            else:
                subprocess.run(["sh", "-c", "git add -A && git commit -qm w"], cwd=w, env=env, check=True)
                push = timed(["git", "push", "-q", url, "main"], w, env)
                clone = timed(["git", "clone", "-q", url, os.path.join(d, "gc")], d, env)
            results[tool] = (push, clone)
        for name, _ in files:
            for clone in ("hc", "gc"):
                if os.path.getsize(os.path.join(d, clone, name)) != os.path.getsize(os.path.join(src, name)):
                    sys.exit(f"{clone}/{name}: wrong size")
        rows.append((label + f" ({server})", "push (HTTP)", results["git"][0], results["hfgit"][0]))
        rows.append((label + f" ({server})", "clone (HTTP)", results["git"][1], results["hfgit"][1]))
        lfs_api = f"{rudolfs}/api/bench/{{}}" if server == "rudolfs" else f"{forge}/bench/{{}}.git/info/lfs"
        floors.append((label + f" ({server})",) + server_floor(lfs_api, [os.path.join(src, n) for n, _ in files], f"hfgit-{tag}", f"floor-{tag}", d))
        shutil.rmtree(d, ignore_errors=True)

    def server_floor(lfs_api, paths, existing, fresh, d):
        """What the server itself allows: curl uploading the objects to a fresh repository, then
        downloading them (to /dev/null), through the batch API's own actions, 8 at a time (as
        both clients do)."""
        import hashlib, json, urllib.request
        objs = []
        for path in paths:
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            objs.append({"oid": h.hexdigest(), "size": os.path.getsize(path)})
        def actions(repo, op):
            out = []
            for i in range(0, len(objs), 100):
                req = urllib.request.Request(lfs_api.format(repo) + "/objects/batch", method="POST",
                                             data=json.dumps({"operation": op, "transfers": ["basic"], "objects": objs[i:i + 100]}).encode(),
                                             headers={"Accept": "application/vnd.git-lfs+json", "Content-Type": "application/vnd.git-lfs+json"})
                for o in json.load(urllib.request.urlopen(req))["objects"]:
                    a = o["actions"][op]
                    out.append((a["href"], a.get("header", {})))
            return out
        def curl_config(name, acts, upload):
            cfg = os.path.join(d, name)
            with open(cfg, "w") as f:
                for i, (href, hdrs) in enumerate(acts):
                    if i:
                        f.write("next\n")
                    f.write(f'url = "{href}"\noutput = "/dev/null"\nsilent\nshow-error\nfail\n')
                    for k, v in hdrs.items():
                        f.write(f'header = "{k}: {v}"\n')
                    if upload:
                        f.write(f'upload-file = "{paths[i]}"\n')
            return cfg
        up = timed(["curl", "--parallel", "--parallel-max", "8", "-K", curl_config("up.curl", actions(fresh, "upload"), True)], d, env)
        down = timed(["curl", "--parallel", "--parallel-max", "8", "-K", curl_config("down.curl", actions(existing, "download"), False)], d, env)
        return up, down

    def capped_case(label, rate):
        """Clone of one object from storage capped per connection (nginx limit_rate)."""
        import hashlib, http.server, json, socket, threading
        d, src = case_dir("capped", [("model.bin", a.size_mib)])
        objects = os.path.join(d, "www", "objects")
        os.makedirs(objects)
        path = os.path.join(src, "model.bin")
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        oid, size = h.hexdigest(), os.path.getsize(path)
        os.link(path, os.path.join(objects, oid))
        def free_port():
            s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
        np_, bp = free_port(), free_port()
        run = os.path.join(d, "nginx")
        os.makedirs(os.path.join(run, "tmp"))
        user = "user root;" if os.getuid() == 0 else ""
        with open(os.path.join(run, "nginx.conf"), "w") as f:
            f.write(f"""{user}
daemon off; worker_processes 2; pid {run}/nginx.pid; error_log {run}/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off; sendfile on; client_body_temp_path {run}/tmp/body; proxy_temp_path {run}/tmp/proxy;
  fastcgi_temp_path {run}/tmp/fastcgi; uwsgi_temp_path {run}/tmp/uwsgi; scgi_temp_path {run}/tmp/scgi;
  server {{ listen 127.0.0.1:{np_}; location /objects/ {{ root {d}/www; limit_rate {rate}; }} }}
}}
""")
        nginx = subprocess.Popen(["nginx", "-p", run, "-c", os.path.join(run, "nginx.conf")], stderr=subprocess.DEVNULL)
        class Batch(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                out = [{"oid": o["oid"], "size": o["size"], "actions": {"download": {"href": f"http://127.0.0.1:{np_}/objects/{o['oid']}"}}}
                       for o in body["objects"]]
                data = json.dumps({"transfer": "basic", "objects": out}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.git-lfs+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            def log_message(self, *args):
                pass
        batch = http.server.ThreadingHTTPServer(("127.0.0.1", bp), Batch)
        threading.Thread(target=batch.serve_forever, daemon=True).start()
        time.sleep(0.5)
        try:
            # one history, two ways to clone it: the pointer and an .lfsconfig naming the endpoint
            g = os.path.join(d, "w")
            subprocess.run(["git", "init", "-q", g], env=env, check=True)
            with open(os.path.join(g, ".lfsconfig"), "w") as f:
                f.write(f"[lfs]\n\turl = http://127.0.0.1:{bp}\n")
            with open(os.path.join(g, ".gitattributes"), "w") as f:
                f.write("*.bin filter=lfs diff=lfs merge=lfs -text\n")
            with open(os.path.join(g, "model.bin"), "w") as f:
                f.write(f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n")
            # git-lfs's clean filter passes a pointer through unchanged
            subprocess.run(["git", "add", "-A"], cwd=g, env=env, check=True)
            subprocess.run(["git", "commit", "-qm", "w"], cwd=g, env=env, check=True)
            bare = os.path.join(d, "w.git")
            subprocess.run(["git", "clone", "-q", "--bare", "--no-checkout", g, bare], env={**env, "GIT_LFS_SKIP_SMUDGE": "1"}, check=True)
            hl = timed([hfgit, "clone", bare, os.path.join(d, "hc")], d, env)
            gl = timed(["git", "clone", "-q", bare, os.path.join(d, "gc")], d, env)
            for clone in ("hc", "gc"):
                if os.path.getsize(os.path.join(d, clone, "model.bin")) != size:
                    sys.exit(f"{clone}/model.bin: wrong size")
            rows.append((label + f" (nginx, {rate}B/s per connection)", "clone (capped)", gl, hl))
            step = -(-size // 8)
            cfg = os.path.join(d, "ranges.curl")
            with open(cfg, "w") as f:
                for i in range(8):
                    if i:
                        f.write("next\n")
                    f.write(f'url = "http://127.0.0.1:{np_}/objects/{oid}"\nrange = "{i * step}-{min(size, (i + 1) * step) - 1}"\noutput = "/dev/null"\nsilent\nfail\n')
            floors.append((label + f" (nginx, {rate}B/s per connection)", (0.0, 0.0), timed(["curl", "--parallel", "--parallel-max", "8", "-K", cfg], d, env)))
        finally:
            batch.shutdown()
            nginx.terminate()
            nginx.wait()
            shutil.rmtree(d, ignore_errors=True)

    def flat_memory_case(gib):
        """Peak RSS of every step of one large file's life in hfgit. The source is sparse (it
        costs no disk and no time to make; its pointer is that of zeros); the work-tree copy and
        the store object are real, so the case needs about 2 x gib of disk at its peak (the
        first work tree is removed once pushed)."""
        d = os.path.join(work, "flat")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        src = os.path.join(d, "model.bin")
        with open(src, "wb") as f:
            f.truncate(int(gib * (1 << 30)))
        old = time.time() - 3600
        os.utime(src, (old, old))
        n, bare, c, c2 = (os.path.join(d, x) for x in ("n", "n.git", "c", "c2"))
        label = f"1 x {gib:g} GiB"
        subprocess.run([hfgit, "init", n], env=env, check=True, stderr=subprocess.DEVNULL)
        subprocess.run([hfgit, "commit", "-m", "card"], cwd=n, env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run([hfgit, "push", bare, "--create"], cwd=n, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run([hfgit, "clone", bare, c], cwd=d, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        steps = [("add", [hfgit, "add", src], n), ("commit", [hfgit, "commit", "-m", "w"], n), ("status", [hfgit, "status"], n),
                 ("push (local bare)", [hfgit, "push", bare], n), ("pull", [hfgit, "pull"], c)]
        for op, cmd, cwd in steps:
            if op == "pull":
                shutil.rmtree(n)  # pushed: its work-tree copy is no longer needed (the store is linked into n.git)
            memory_rows.append((label, op) + peak_rss(cmd, cwd, env))
        shutil.rmtree(c)
        memory_rows.append((label, "clone (local bare)") + peak_rss([hfgit, "clone", bare, c2], d, env))
        if os.path.getsize(os.path.join(c2, "model.bin")) != int(gib * (1 << 30)):
            sys.exit("c2/model.bin: wrong size")
        shutil.rmtree(d, ignore_errors=True)

    memory_rows = []
    if a.xet_hash_only:
        pass
    elif a.flat_memory:
        flat_memory_case(a.flat_memory)
    elif a.capped:
        capped_case(f"1 x {a.size_mib} MiB", a.capped)
    elif a.http:
        import socket
        def free_port():
            s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
        peers = os.path.join(work, "peers")
        fp, gp, rp = free_port(), free_port(), free_port()
        subprocess.run(["bash", os.path.join(ROOT, "scripts/peers/start-stack.sh"), os.path.join(peers, "forge"), str(fp), str(gp)],
                       check=True, stdout=subprocess.DEVNULL)
        os.makedirs(os.path.join(peers, "rudolfs"), exist_ok=True)
        rud = subprocess.Popen([os.path.join(os.environ.get("HFGIT_TEST_PEERS_CACHE", os.path.expanduser("~/.cache/hfgit-test-peers")), "bin/rudolfs"), "--host", f"127.0.0.1:{rp}", "local", "--path",
                                os.path.join(peers, "rudolfs")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        try:
            forge, rudolfs = f"http://127.0.0.1:{fp}", f"http://127.0.0.1:{rp}"
            for server in a.servers.split(","):
                http_case(f"1 x {a.size_mib} MiB", [("model.bin", a.size_mib)], server, forge, rudolfs)
                http_case(f"{a.files} x {a.file_mib} MiB", [(f"shard-{i:03}.bin", a.file_mib) for i in range(a.files)], server, forge, rudolfs)
        finally:
            rud.terminate()
            subprocess.run(["bash", os.path.join(ROOT, "scripts/peers/stop-stack.sh"), os.path.join(peers, "forge")], stdout=subprocess.DEVNULL)
    else:
        case(f"1 x {a.size_mib} MiB", [("model.bin", a.size_mib)])
        case(f"{a.files} x {a.file_mib} MiB", [(f"shard-{i:03}.bin", a.file_mib) for i in range(a.files)])

    if rows:
        print(f"\nhfgit vs git + git-lfs ({subprocess.run(['git', 'lfs', 'version'], capture_output=True, text=True).stdout.strip()}), "
              f"{os.cpu_count()} cores, {drop_caches_note()}, on {fs_note}\n")
        print(f"| data | operation | git + git-lfs | hfgit | speed-up | peak RSS git / hfgit |")
        print(f"|---|---|---|---|---|---|")
        for label, op, (gt, gm), (ht, hm) in rows:
            print(f"| {label} | {op} | {gt:.2f} s | {ht:.2f} s | {gt / ht:.1f}x | {gm:.0f} / {hm:.0f} MiB |")
    def cpu_timed(cmd, cwd):
        """Wall time and user CPU time of one command (wait4's rusage of that child)."""
        t = time.perf_counter()
        p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        err = p.stderr.read()
        _, status, usage = os.wait4(p.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"failed: {' '.join(cmd)}\n{err.decode(errors='replace')}")
        return time.perf_counter() - t, usage.ru_utime

    def xet_hash_case(mib):
        """Xet chunking + hashing (hfgit xet-hash: one thread, one streaming read) against
        openssl dgst -sha256 of the same file and, when its Python is there, Hugging Face's own
        client (hf_xet.hash_files), alternating, five runs each, medians of wall and user time."""
        d = os.path.join(work, "xet-hash")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        f = os.path.join(d, "w.bin")
        write_random(f, mib)
        tools = {"hfgit xet-hash": [hfgit, "xet-hash", f], "openssl dgst -sha256": ["openssl", "dgst", "-sha256", f]}
        if a.hf_xet_python and os.path.exists(a.hf_xet_python):
            tools["hf_xet.hash_files"] = [a.hf_xet_python, "-c", "import hf_xet, sys; hf_xet.hash_files([sys.argv[1]])", f]
        runs = {k: [] for k in tools}
        for _ in range(5):
            for k, cmd in tools.items():
                runs[k].append(cpu_timed(cmd, d))
        shutil.rmtree(d, ignore_errors=True)
        med = lambda xs: sorted(xs)[len(xs) // 2]
        return {k: (med([w for w, _ in v]), med([u for _, u in v])) for k, v in runs.items()}

    def table(intro, columns, lines):
        print(f"\n{intro}\n")
        print("| " + " | ".join(columns) + " |")
        print("|" + "---|" * len(columns))
        for line in lines:
            print("| " + " | ".join(line) + " |")
    if memory_rows:
        table("Peak RSS of hfgit (wait4 rusage), one run:", ["data", "operation", "wall time", "peak RSS"],
              [(label, op, f"{t:.2f} s", f"{m:.0f} MiB") for label, op, t, m in memory_rows])
    if hash_floors:
        table("Commit against the hashing floor (openssl dgst -sha256 of the same files, 2 at a time, same run; init + add + "
              "commit first into fresh pages, again into the pages the first run freed; cp twice: the two copies add writes):",
              ["data", "openssl", "hfgit commit", "ratio", "fresh pages: cp twice", "hfgit init + add + commit", "reused pages: cp twice",
               "hfgit init + add + commit", "ratio (reused)", "steps (reused)"],
              [(label, f"{ft:.2f} s", f"{ct:.2f} s", f"{ct / ft:.2f}x", f"{cpf:.2f} s", f"{at:.2f} s ({at / ft:.2f}x)", f"{cp:.2f} s",
                f"{ag:.2f} s", f"{ag / ft:.2f}x", steps) for label, ft, ct, cpf, at, cp, ag, steps in hash_floors])
    xh = xet_hash_case(a.size_mib)
    gib = a.size_mib / 1024
    table(f"Xet chunk + hash against SHA-256 of the same {a.size_mib} MiB random file, one thread each, page cache warm, "
          "medians of 5 alternating runs (per core: the file over user CPU time):",
          ["tool", "wall", "user CPU", "per core (user)", "wall / openssl"],
          [(k, f"{w:.2f} s", f"{u:.2f} s", f"{gib / u:.2f} GiB/s", f"{w / xh['openssl dgst -sha256'][0]:.2f}x") for k, (w, u) in xh.items()])
    if a.fs == "xfs":
        subprocess.run(["umount", work], check=True)
    if not a.workdir:
        shutil.rmtree(top, ignore_errors=True)  # the servers' stores hold gigabytes
    if floors:
        print("\nThe servers' own floor (curl through the batch API's actions, 8 transfers at a time, same run;")
        print("for --capped: one object as 8 ranges at once, download only):\n")
        print("| data | curl upload | curl download (to /dev/null) |")
        print("|---|---|---|")
        for label, (ut, _), (dt, _) in floors:
            print(f"| {label} | {ut:.2f} s | {dt:.2f} s |")


if __name__ == "__main__":
    main()
