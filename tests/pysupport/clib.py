"""Building a small C test server against this checkout's libhttpsock (shared by the Python
suites that bring their own C program: tests/conformance, tests/deflate)."""
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIBDIR = ROOT / "target" / "release"


def build_c_server(source: Path, out: Path) -> Path:
    """Compiles `source` (C99, warnings as errors) into `out`, linked to target/release's
    libhttpsock with an rpath; fails the caller's test with a clear message when the compiler or
    the library is missing."""
    import pytest

    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.fail("no C compiler")
    if not (LIBDIR / "libhttpsock.so").exists():
        pytest.fail("target/release/libhttpsock.so is missing: run `cargo build --release`")
    subprocess.run(
        [cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-O1", f"-I{ROOT / 'include'}",
         "-o", str(out), str(source), f"-L{LIBDIR}", "-lhttpsock", f"-Wl,-rpath,{LIBDIR}"],
        check=True, timeout=60,
    )
    return out
