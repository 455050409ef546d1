"""Readers of untrusted files stay within a memory limit (each case in a child process run
under ``RLIMIT_AS``): small files that inflate to gigabytes are refused with the documented
error, never a ``MemoryError``.

The limit is the child's address space after its imports plus 512 MiB; the bombs inflate to
1.2 GB, so a reader that inflated them whole (as the readers once did) would fail here. A
control case shows that the limit bites.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import textwrap
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

resource = pytest.importorskip("resource")  # POSIX only

BOMB_BYTES = 1_200_000_000
HEADROOM = 512 << 20

_CHILD = """
import resource, sys
import mnist_logreg.datasets.mnist, mnist_logreg.datasets.idx, mnist_logreg.modelio
from pathlib import Path

size = int(open("/proc/self/status").read().split("VmSize:")[1].split()[0]) * 1024
limit = size + {headroom}
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
path = Path(sys.argv[1])
try:
{body}
except {expected} as exc:
    print("REFUSED", type(exc).__name__, exc)
"""


def _run_limited(body: str, path: Path, expected: str = "Exception") -> str:
    code = _CHILD.format(headroom=HEADROOM, body=textwrap.indent(textwrap.dedent(body), "    "), expected=expected)
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120,
                          env={"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def _zeros_deflated(compressor, n: int):
    """Yield ``compressor``'s output for ``n`` zero bytes, 1 MiB at a time."""
    block = bytes(1 << 20)
    for start in range(0, n, len(block)):
        yield compressor.compress(block[: min(len(block), n - start)])


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bombs")
    # an IDX gzip whose header declares the 60,000 training images, then 1.2 GB of zeros
    idx = folder / "train-images-idx3-ubyte.gz"
    with idx.open("wb") as fh:
        packer = zlib.compressobj(1, zlib.DEFLATED, 31)
        fh.write(packer.compress(b"\0\0\x08\x03" + struct.pack(">III", 60000, 28, 28)))
        for piece in _zeros_deflated(packer, BOMB_BYTES):
            fh.write(piece)
        fh.write(packer.flush())
    # an .npz whose member 'coef' inflates to 1.2 GB (a model file, or a data cache entry)
    npz = folder / "bomb.npz"
    with zipfile.ZipFile(npz, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf, \
            zf.open("coef.npy", "w", force_zip64=True) as member:
        header = {"descr": "<f8", "fortran_order": False, "shape": (BOMB_BYTES // 8,)}
        np.lib.format.write_array_header_2_0(member, header)
        block = bytes(1 << 20)
        for start in range(0, BOMB_BYTES, len(block)):
            member.write(block[: min(len(block), BOMB_BYTES - start)])
    assert idx.stat().st_size < 20 << 20 and npz.stat().st_size < 20 << 20
    return {"idx": idx, "npz": npz}


def test_the_limit_bites(bombs):
    """Control: inflating the bomb whole under the same limit is a MemoryError."""
    out = _run_limited("""
        import gzip
        gzip.decompress(path.read_bytes())
    """, bombs["idx"], expected="MemoryError")
    assert out.startswith("REFUSED MemoryError")


def test_idx_bomb_stops_at_the_declared_size(bombs):
    out = _run_limited("mnist_logreg.datasets.idx.read_idx(path)", bombs["idx"],
                       expected="mnist_logreg.datasets.idx.IDXFormatError")
    assert out.startswith("REFUSED IDXFormatError")
    assert f"inflates to more than {16 + 60000 * 28 * 28} bytes" in out


def test_model_member_bomb_is_refused_from_its_size(bombs):
    out = _run_limited("mnist_logreg.modelio.load_model(path)", bombs["npz"],
                       expected="mnist_logreg.modelio.ModelFileError")
    assert out.startswith("REFUSED ModelFileError") and "inflates to 1200000128 bytes" in out


def test_cache_entry_bomb_is_discarded(bombs, tmp_path):
    cache = tmp_path / "id-554.npz"
    cache.write_bytes(bombs["npz"].read_bytes())
    out = _run_limited("""
        import warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = mnist_logreg.datasets.mnist._read_npz_cache(path)
        print("RESULT", result, path.exists(), [str(w.message) for w in caught])
    """, cache)
    assert out.startswith("RESULT None False"), out
