"""Compiles ``kernels.cc`` (and the headers it includes) into a shared library on first use
and registers its FFI targets.

The library is built with the machine's C++ compiler (``$CXX``, else ``c++``) against the XLA
FFI headers that ship with jaxlib (``jax.ffi.include_dir()``), for this CPU
(``-march=native``), and cached under ``$GRU_JAX_CACHE`` (default ``~/.cache/gru_jax``) keyed
by a hash of the sources, the flags, the jaxlib version and the CPU. No compiler, or a failed
build, leaves :func:`load` returning ``None`` with the reason in :func:`unavailable_reason`;
the trainer then uses the XLA path (same results to float32 rounding, slower on CPU).
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Optional

import jax

SOURCE = Path(__file__).with_name("kernels.cc")
#: Every file the library is built from (kernels.cc includes the headers): the cache key.
SOURCES = (SOURCE, *sorted(SOURCE.parent.glob("*.h")))
FLAGS = ("-O3", "-march=native", "-std=c++17", "-shared", "-fPIC", "-fopenmp-simd",
         "-fno-math-errno", "-fno-trapping-math")
TARGETS = {"gru_jax_loss_grad": "GruJaxLossGrad", "gru_jax_loss_grad_rows": "GruJaxLossGradRows",
           "gru_jax_next_order": "GruJaxNextOrder",
           "gru_jax_pack_rows": "GruJaxPackRows", "gru_jax_dataset": "GruJaxDataset",
           "gru_jax_first_order": "GruJaxFirstOrder"}

_lock = threading.Lock()
_state: dict = {"tried": False, "library": None, "reason": "not built yet"}


def cache_dir() -> Path:
    return Path(os.environ.get("GRU_JAX_CACHE") or Path.home() / ".cache" / "gru_jax")


def _cpu_signature() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            lines = [line for line in handle if line.startswith(("model name", "flags"))][:2]
    except OSError:
        lines = []
    return platform.machine() + "".join(lines)


def library_path(compiler: str) -> Path:
    digest = hashlib.sha256()
    for part in (*(path.read_bytes() for path in SOURCES), " ".join(FLAGS).encode(),
                 compiler.encode(),
                 jax.__version__.encode(), _cpu_signature().encode()):
        digest.update(part)
    return cache_dir() / f"gru_jax_kernels_{digest.hexdigest()[:16]}.so"


def _compile(compiler: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(handle)
    command = [compiler, *FLAGS, f"-I{jax.ffi.include_dir()}", str(SOURCE), "-o", partial]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
        os.replace(partial, target)              # atomic: a reader never sees half a library
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def load() -> Optional[ctypes.CDLL]:
    """The kernel library with its FFI targets registered for the CPU, or ``None``."""
    with _lock:
        if _state["tried"]:
            return _state["library"]
        _state["tried"] = True
        if os.environ.get("GRU_JAX_NATIVE", "1") == "0":
            _state["reason"] = "disabled by GRU_JAX_NATIVE=0"
            return None
        compiler = shutil.which(os.environ.get("CXX", "c++"))
        if compiler is None:
            _state["reason"] = "no C++ compiler (set $CXX or install g++)"
            return None
        try:
            path = library_path(compiler)
            if not path.exists():
                _compile(compiler, path)
            library = ctypes.cdll.LoadLibrary(str(path))
            for name, symbol in TARGETS.items():
                jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(getattr(library, symbol)),
                                            platform="cpu")
                jax.ffi.register_ffi_target_as_batch_partitionable(name)
        except Exception as error:  # noqa: BLE001 - any failure means: use the XLA path
            _state["reason"] = f"build or load failed: {error}"
            return None
        _state["library"] = library
        _state["reason"] = ""
        return library


def unavailable_reason() -> str:
    """Why :func:`load` returned ``None`` (empty once it succeeded)."""
    return _state["reason"]
