"""RSS growth per extra ONNX Runtime session of one model blob, each created
by the module's own ONNX backend (its Session class, from the install tree):
what the framework keeps of a model beside the blob the module stores. Run by
models.py in a fresh process, so that nothing else grows meanwhile:

    python bench/session_memory.py INSTALL_DIR BLOB_FILE INTRA_OP INTER_OP COPIES

Prints {"rss_mib_per_session": ...} as JSON.
"""
import ctypes
import json
import sys
from pathlib import Path

LIBC = ctypes.CDLL("libc.so.6")


def rss_bytes():
    """RSS after handing freed heap back to the OS (what MEMORY PURGE does
    for the server's jemalloc)."""
    LIBC.malloc_trim(0)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main():
    install, blob_file, intra, inter, copies = sys.argv[1:]
    sys.path.insert(0, install)   # our redisai package, not the PyPI client of that name
    from redisai import backends
    blob = Path(blob_file).read_bytes()
    settings = backends.Settings(int(intra), int(inter), 0)
    sessions = [backends.create("ONNX", blob, "CPU", [], [], settings)]  # warm-up: imports
    before = rss_bytes()
    sessions += [backends.create("ONNX", blob, "CPU", [], [], settings)
                 for _ in range(int(copies))]
    per = (rss_bytes() - before) / int(copies)
    print(json.dumps({"rss_mib_per_session": round(per / 2**20, 3)}))


if __name__ == "__main__":
    main()
