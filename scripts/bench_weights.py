#!/usr/bin/env python3
"""hfgit's weights features against the speed limits of this machine, in one run.

Makes a 1 GiB float32 checkpoint in torch.save's zip format (16 tensors of 64 MiB; written
with Python's pickle and zipfile, so PyTorch is not needed) and a second one where 2 of the 16
tensors changed in a few values. Then times, warm page cache, sync before each step:
  convert   hfgit add --safetensors A           vs  cp A (same filesystem)
  diff      hfgit diff HEAD~1 HEAD (A vs B)      vs  openssl dgst -sha256 A B (hashing both once)
  scan      hfgit scan A                         (reads data.pkl only)
With --torch-python PYTHON (a Python with torch and safetensors installed), also the Python way
to convert: torch.load(weights_only=True) + safetensors.torch.save_file.
Usage: python3 scripts/bench_weights.py [--size-mib 1024] [--workdir DIR] [--torch-python PY]
"""
import argparse, collections, io, os, pickle, shutil, subprocess, sys, types, zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import setup, timed  # noqa: E402


def median_timed(cmd, cwd, env, n):
    """The median wall time (and the largest peak RSS) of n runs."""
    runs = sorted(timed(cmd, cwd, env) for _ in range(n))
    return runs[n // 2][0], max(m for _, m in runs)


def fake_torch():
    """Just enough of torch's names for pickle to write what torch.save writes."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    class FloatStorage:
        pass

    def _rebuild_tensor_v2(*args):
        raise RuntimeError("never called")

    FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"
    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    torch.FloatStorage, utils._rebuild_tensor_v2, torch._utils = FloatStorage, _rebuild_tensor_v2, utils
    sys.modules["torch"], sys.modules["torch._utils"] = torch, utils
    return FloatStorage, _rebuild_tensor_v2


FloatStorage, rebuild = fake_torch()


class Storage:
    def __init__(self, key, numel):
        self.key, self.numel = key, numel


class Tensor:
    def __init__(self, key, shape):
        self.storage = Storage(key, shape[0] * shape[1])
        self.shape = shape

    def __reduce__(self):
        return (rebuild, (self.storage, 0, self.shape, (self.shape[1], 1), False, collections.OrderedDict()))


class TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", FloatStorage, obj.key, "cpu", obj.numel)
        return None


def write_checkpoint(path, tensors, data_for):
    """tensors: [(name, (rows, cols))]; data_for(i) yields the i-th tensor's bytes in chunks."""
    arch = os.path.splitext(os.path.basename(path))[0]
    sd = collections.OrderedDict((name, Tensor(str(i), shape)) for i, (name, shape) in enumerate(tensors))
    buf = io.BytesIO()
    TorchPickler(buf, protocol=2).dump(sd)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as z:
        z.writestr(f"{arch}/data.pkl", buf.getvalue())
        z.writestr(f"{arch}/byteorder", "little")
        for i in range(len(tensors)):
            with z.open(f"{arch}/data/{i}", "w", force_zip64=True) as f:
                for chunk in data_for(i):
                    f.write(chunk)
        z.writestr(f"{arch}/version", "3\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--workdir")
    ap.add_argument("--torch-python")
    ap.add_argument("--repeat", type=int, default=3, help="runs per step; the median is shown")
    a = ap.parse_args()
    hfgit, work, env = setup(a.workdir, "hfgit-bench-weights-")

    n = 16
    per = a.size_mib // n  # MiB per tensor
    cols = 1024
    rows = per * (1 << 20) // 4 // cols
    tensors = [(f"layers.{i}.weight", (rows, cols)) for i in range(n)]
    block = os.urandom(1 << 20)

    def data(i, changed=False):
        for m in range(per):
            chunk = bytearray(i.to_bytes(4, "little") + m.to_bytes(4, "little") + block[8:])
            if changed and i in (3, 11) and m == per // 2:
                chunk[4096:4096 + 64] = bytes(64)  # 16 float32 values
            yield bytes(chunk)

    A, B = os.path.join(work, "a.pt"), os.path.join(work, "b.pt")
    write_checkpoint(A, tensors, lambda i: data(i))
    write_checkpoint(B, tensors, lambda i: data(i, changed=True))
    size = os.path.getsize(A)
    rows_out = []

    repo = os.path.join(work, "repo")
    shutil.rmtree(repo, ignore_errors=True)
    subprocess.run([hfgit, "init", repo], env=env, check=True, stderr=subprocess.DEVNULL)
    cp_t, cp_m = median_timed(["cp", A, os.path.join(work, "copy.bin")], work, env, a.repeat)
    conv_t, conv_m = median_timed([hfgit, "add", "--safetensors", A], repo, env, a.repeat)
    label = f"{size / (1 << 30):.2g} GiB" if size >= 1 << 30 else f"{size >> 20} MiB"
    rows_out.append((f"convert {label} .pt -> safetensors", "cp", cp_t, cp_m, conv_t, conv_m))

    # diff: two commits of the checkpoint, compared from the LFS store
    shutil.copyfile(A, os.path.join(repo, "pytorch_model.bin"))
    subprocess.run([hfgit, "commit", "-q", "-m", "a"], cwd=repo, env=env, check=True, stdout=subprocess.DEVNULL)
    shutil.copyfile(B, os.path.join(repo, "pytorch_model.bin"))
    subprocess.run([hfgit, "commit", "-q", "-m", "b"], cwd=repo, env=env, check=True, stdout=subprocess.DEVNULL)
    out = subprocess.run([hfgit, "diff", "HEAD~1", "HEAD"], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout
    if "2 changed" not in out or "16 of" not in out:
        sys.exit(f"unexpected diff output:\n{out}")
    sha_t, sha_m = median_timed(["openssl", "dgst", "-sha256", A, B], work, env, a.repeat)
    diff_t, diff_m = median_timed([hfgit, "diff", "HEAD~1", "HEAD"], repo, env, a.repeat)
    rows_out.append((f"diff two {label} checkpoints", "openssl sha256 both", sha_t, sha_m, diff_t, diff_m))
    scan_t, scan_m = median_timed([hfgit, "scan", A], work, env, a.repeat)

    if a.torch_python:
        code = ("import sys, torch, safetensors.torch as st; "
                "sd = torch.load(sys.argv[1], weights_only=True); st.save_file(sd, sys.argv[2], metadata={'format': 'pt'})")
        py_t, py_m = median_timed([a.torch_python, "-c", code, A, os.path.join(work, "py.safetensors")], work, env, a.repeat)
        rows_out.append((f"convert {label} .pt -> safetensors", "torch + safetensors", py_t, py_m, conv_t, conv_m))

    print(f"\n1 checkpoint = {size / (1 << 20):.0f} MiB, 16 float32 tensors; warm page cache, sync before each step, "
          f"median of {a.repeat} runs\n")
    print(f"{'case':36} {'baseline':22} {'base s':>8} {'base MiB':>9} {'hfgit s':>8} {'hfgit MiB':>9} {'hfgit vs base':>13}")
    for case, base, bt, bm, ht, hm in rows_out:
        print(f"{case:36} {base:22} {bt:8.2f} {bm:9.0f} {ht:8.2f} {hm:9.0f} {bt / ht:12.2f}x")
    print(f"{'scan ' + label + ' checkpoint':36} {'':22} {'':8} {'':9} {scan_t:8.3f} {scan_m:9.0f}")
    print(f"\nthroughput: convert {size / conv_t / 1e9:.2f} GB/s, diff {2 * size / diff_t / 1e9:.2f} GB/s read, "
          f"openssl sha256 {2 * size / sha_t / 1e9:.2f} GB/s")
    if not a.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
