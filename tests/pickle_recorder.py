# Loads each file given, as the loaders do, with CPython's pickle.Unpickler whose find_class
# records every global asked for and returns an inert stand-in (nothing is imported or run):
# every pickle up to EOF, the five of a legacy torch checkpoint, one per .pkl record of a zip.
# Prints {path: {"globals": [[module, name, mapped module, mapped name]...], "error": ...}}.
# Used by tests/pickle_differential.rs and the fuzzers' differential mode (src/weights/fuzzing.rs).
import io, json, pickle, sys, zipfile, _compat_pickle, resource
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
MAGIC = 0x1950A86A20F9469CFC6C

def clean(s):
    return s.encode("utf-16", "surrogatepass").decode("utf-16", "replace") if isinstance(s, str) else repr(s)

class Inert:
    def __new__(cls, *a, **k): return object.__new__(cls)
    def __init__(self, *a, **k): pass
    def __call__(self, *a, **k): return Inert()
    def __setstate__(self, state): pass
    def __setitem__(self, k, v): pass
    def append(self, x): pass
    def extend(self, xs): pass
    def add(self, x): pass

class Recorder(pickle.Unpickler):
    def __init__(self, f, seen):
        super().__init__(f)
        self.seen = seen
    def find_class(self, module, name):
        m, n = module, name
        if isinstance(m, str) and isinstance(n, str):
            if (m, n) in _compat_pickle.NAME_MAPPING:
                m, n = _compat_pickle.NAME_MAPPING[(m, n)]
            elif m in _compat_pickle.IMPORT_MAPPING:
                m = _compat_pickle.IMPORT_MAPPING[m]
        self.seen.append([clean(module), clean(name), clean(m), clean(n)])
        return Inert
    def persistent_load(self, pid):
        return Inert()

out = {}
for path in sys.argv[1:]:
    seen, error, count = [], None, 0
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] == b"PK\x03\x04":
        # a zip: torch.load reads the .pkl records (one pickle each)
        try:
            z = zipfile.ZipFile(io.BytesIO(data))
            names = [i for i in z.infolist() if i.filename.lower().endswith(".pkl")]
        except BaseException as e:
            names, error = [], f"zip: {type(e).__name__}: {e}"
        for info in names:
            try:
                Recorder(io.BytesIO(z.read(info)), seen).load()
            except BaseException as e:
                error = f"{info.filename}: {type(e).__name__}: {e}"
        out[path] = {"globals": seen, "error": error}
        continue
    f = io.BytesIO(data)
    while f.tell() < len(data):
        count += 1
        try:
            value = Recorder(f, seen).load()
        except BaseException as e:
            error = f"{type(e).__name__}: {e} (pickle {count}, at byte {f.tell()})"
            break
        if count == 1 and not (isinstance(value, int) and value == MAGIC):
            limit = None
        elif count == 1:
            limit = 5
        if limit and count >= limit:
            break
    out[path] = {"globals": seen, "error": error}
print(json.dumps(out))
