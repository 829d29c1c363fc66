"""llama.cpp's own converter scripts, taken from the installed llama-cpp-python's source distribution.

The sdist of the installed version is fetched once with pip; only the two converters, their
``conversion`` package, the vendored ``gguf-py`` (newer than PyPI's gguf) and the chat templates they
read are kept, in ``cache_dir()/llama.cpp/VERSION``. They run as subprocesses of this Python.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
from collections import deque
from importlib import metadata
from pathlib import Path

from rich.console import Console

from ..errors import BijouError
from ..files import temp_dir
from ..model_cache import cache_dir

PACKAGE = "llama-cpp-python"
VENDOR = "/vendor/llama.cpp/"
CONVERT_MODEL, CONVERT_LORA = "convert_hf_to_gguf.py", "convert_lora_to_gguf.py"
SET_METADATA = "gguf-py/gguf/scripts/gguf_new_metadata.py"  # a copy with new metadata
KEEP_FILES = (CONVERT_MODEL, CONVERT_LORA, "LICENSE")
KEEP_DIRS = ("conversion/", "gguf-py/gguf/", "models/templates/")
REQUIRED = (CONVERT_MODEL, CONVERT_LORA, SET_METADATA, "conversion/__init__.py", "gguf-py/gguf/__init__.py")

console = Console(stderr=True, soft_wrap=True)


def llama_cpp_version() -> str:
    """The installed llama-cpp-python version (its converters must match its GGUF reader)."""
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        raise BijouError(f"GGUF export needs {PACKAGE}: pip install {PACKAGE}") from None


def converters_dir() -> Path:
    """The folder of llama.cpp's converters for the installed llama-cpp-python, fetched on first use."""
    version = llama_cpp_version()
    target = cache_dir() / "llama.cpp" / version
    if (target / CONVERT_MODEL).is_file():
        return target
    tmp = temp_dir(target.parent, version)
    try:
        with console.status(f"fetching llama.cpp's converters ({PACKAGE} {version} source) from PyPI"):
            _extract(_download_sdist(version, tmp / "download"), tmp / "tools")
        try:
            os.replace(tmp / "tools", target)
        except OSError:
            if not (target / CONVERT_MODEL).is_file():  # else another process cached them first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    console.print(f"cached llama.cpp's converters in {target}")
    return target


def _download_sdist(version: str, dest: Path) -> Path:
    requirement = f"{PACKAGE}=={version}"
    # --no-binary for this package only: with ":all:" pip also builds its build dependencies from source
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", PACKAGE, requirement]
    done = subprocess.run([*command, "-d", str(dest)], capture_output=True, text=True)
    found = sorted(dest.glob("*.tar.gz"))
    if done.returncode or not found:
        raise BijouError(
            f"cannot fetch llama.cpp's converters: pip download of the {requirement} source failed: "
            f"{_pip_reason(done.stdout + done.stderr)}; they are fetched from PyPI once, then cached in "
            f"{cache_dir() / 'llama.cpp'}"
        )
    return found[0]


def _pip_reason(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line.removeprefix("ERROR:").strip() for line in lines if line.startswith("ERROR:")]
    reason = errors[-1] if errors else (lines[-1] if lines else "no source distribution downloaded")
    if "Retrying" in output or "connection" in output.lower():
        return f"PyPI is unreachable ({reason})"
    return reason


def _extract(sdist: Path, dest: Path) -> None:
    """Extract the converters from the sdist's ``vendor/llama.cpp``, with tarfile's safe ``data`` filter."""

    def pick(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
        _, found, rel = member.name.partition(VENDOR)
        if not found or not (rel in KEEP_FILES or rel.startswith(KEEP_DIRS)):
            return None
        return tarfile.data_filter(member.replace(name=rel, deep=False), path)

    with tarfile.open(sdist) as tar:
        tar.extractall(dest, filter=pick)
    missing = [name for name in REQUIRED if not (dest / name).is_file()]
    if missing:
        raise BijouError(f"{sdist.name}: no vendor/llama.cpp/{missing[0]} in this source distribution")


def run_converter(script: str, args: list[str], label: str) -> None:
    """Run one of llama.cpp's converter scripts, its latest output line as progress; failure is one line."""
    tools = converters_dir()
    env = {k: v for k, v in os.environ.items() if k != "NO_LOCAL_GGUF"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tools / "gguf-py"), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    tail: deque[str] = deque(maxlen=20)
    command = [sys.executable, str(tools / script), *args]
    with console.status(label) as status:
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace", env=env
        )
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.strip():
                    tail.append(line.strip())
                    status.update(f"{label}: {line.strip()[:100]}")
            code = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    if code:
        raise BijouError(f"{label} failed: {_converter_reason(tail) or f'exit code {code}'}")


def _converter_reason(tail: deque[str]) -> str:
    """The converter's last word: the exception or its ``ERROR:`` log line, without the logger name."""
    for line in reversed(tail):
        if not line.startswith(("Writing:", "INFO:")):
            return re.sub(r"^(ERROR|CRITICAL|WARNING):[\w.-]+:", "", line).strip()
    return ""
