"""The site's notebook: a JupyterLite lab in dist/lab/ whose Pyodide kernel runs pagellm, offline.

    build_lab(dist, wheels=[pagellm.whl, transformers_js_py.whl], cache=.cache, python=sys.executable)

- The kernel runs on the site's own Pyodide (dist/pyodide/), never a CDN's, and `%pip install` finds only
  the wheels served in lab/pypi/ (PyPI fallback off): the kernel's pure-Python dependencies (IPython, jedi,
  ...) and pagellm's own wheels.
- JupyterLite's service worker is turned off: on a version change it unregisters every service worker of
  the origin (the site's too), and its scope (lab/) would take the lab from the site's worker, which checks
  every file's hash and keeps the lab for offline use. The kernel then reaches the notebook's files and
  input() through SharedArrayBuffer, which needs cross-origin isolation: the site's worker provides it.
- Each build starts from an empty folder (a rebuild in a used folder was seen to drop `pyodideUrl` and
  `disablePyPIFallback`), into .cache/lab/<hash of the inputs>/, so an unchanged lab is copied, not rebuilt.
  `check_lab` then reads the written config back and refuses a lab that could reach outside.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SOURCE = ROOT / "lab"  # jupyter-lite.json, pagellm-lab.js, notebooks/
KERNEL_PLUGIN = "@jupyterlite/pyodide-kernel-extension:kernel"
SW_PLUGIN = "@jupyterlite/application-extension:service-worker-manager"
PYODIDE_URL = "./../pyodide/pyodide.mjs"  # the leading ./ makes JupyterLite resolve it against the lab
# What the kernel imports at start, all pure Python, pinned (the site's Pyodide lock has none of them).
KERNEL_WHEELS = {
    "ipython": "9.12.0", "ipython-pygments-lexers": "1.1.1", "jedi": "0.19.2", "comm": "0.2.3",
    "traitlets": "5.14.3", "decorator": "5.2.1", "matplotlib-inline": "0.2.1", "parso": "0.8.6",
    "prompt-toolkit": "3.0.52", "pygments": "2.20.0", "stack-data": "0.6.3", "wcwidth": "0.6.0",
    "asttokens": "3.0.1", "executing": "2.2.1", "pure-eval": "0.2.3", "six": "1.17.0",
}
LAB_PAGE = "lab/index.html"
PAGE_SCRIPT = '<script src="../pagellm-lab.js"></script>'


class LabBuildError(Exception):
    """The lab could not be built, or what was built could reach outside the site."""


def _norm(name: str) -> str:
    return name.lower().replace("_", "-")


def check_lab_config(config: dict, index: dict | None = None, required: set[str] = frozenset()) -> list[str]:
    """What is wrong with a written jupyter-lite.json (and the piplite index): [] when all is well."""
    data = config.get("jupyter-config-data", {})
    kernel = data.get("litePluginSettings", {}).get(KERNEL_PLUGIN, {})
    problems = []
    if kernel.get("pyodideUrl") != PYODIDE_URL:
        problems.append(f"the kernel's pyodideUrl is {kernel.get('pyodideUrl')!r}, not {PYODIDE_URL!r}: "
                        "the kernel would load Pyodide from a CDN")
    if kernel.get("disablePyPIFallback") is not True:
        problems.append("disablePyPIFallback is not true: %pip install would reach PyPI")
    urls = kernel.get("pipliteUrls") or []
    if not any(url.startswith("./pypi/all.json") for url in urls):
        problems.append("pipliteUrls does not name ./pypi/all.json: the served wheels would not be found")
    if any(not url.startswith("./") for url in urls):
        problems.append(f"pipliteUrls names a place outside the site: {urls}")
    if SW_PLUGIN not in data.get("disabledExtensions", []):
        problems.append(f"{SW_PLUGIN} is enabled: JupyterLite's service worker would unregister the site's")
    if index is not None:
        missing = sorted(required - {_norm(name) for name in index})
        if missing:
            problems.append(f"the piplite index lacks {', '.join(missing)}: the kernel cannot start without them")
    return problems


def check_lab(out: Path, required: set[str]) -> None:
    """Read the built lab back and refuse it when it could reach outside or cannot start."""
    try:
        config = json.loads((out / "jupyter-lite.json").read_text())
        index = json.loads((out / "pypi" / "all.json").read_text())
    except (OSError, ValueError) as err:
        raise LabBuildError(f"the built lab in {out} is incomplete ({err}): delete that folder and rebuild.") from None
    problems = check_lab_config(config, index, required)
    for name, releases in index.items():
        for files in releases.get("releases", {}).values():
            for entry in files:
                if not entry["url"].startswith("./") or not (out / "pypi" / entry["url"][2:]).exists():
                    problems.append(f"the piplite index points {name} at {entry['url']}, which the lab does not serve")
    if PAGE_SCRIPT not in (out / LAB_PAGE).read_text():
        problems.append(f"{LAB_PAGE} does not load pagellm-lab.js (offline use, the link back)")
    maps = [p.relative_to(out).as_posix() for p in out.rglob("*.map")]
    if maps:
        problems.append(f"source maps were written ({maps[0]}, …)")
    if problems:
        raise LabBuildError("the lab's build is unsafe or broken: " + "; ".join(problems) + ".")


def kernel_wheels(cache: Path, python: str) -> list[Path]:
    """The kernel's wheels from PyPI (pure Python, for Python 3.14), downloaded once into the cache."""
    folder = cache / "lab-wheels"
    folder.mkdir(parents=True, exist_ok=True)

    def find(name, version):
        stem = f"{name.replace('-', '_')}-{version}-"
        return next((p for p in folder.iterdir() if p.name.lower().startswith(stem.lower())), None)

    missing = [f"{n}=={v}" for n, v in KERNEL_WHEELS.items() if find(n, v) is None]
    if missing:
        result = subprocess.run([python, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                                 "--python-version", "3.14", "--implementation", "py", "--abi", "none",
                                 "--platform", "any", "-d", str(folder), *missing])
        if result.returncode != 0:
            raise LabBuildError(f"downloading the kernel's wheels ({', '.join(missing)}) failed: check that PyPI is reachable.")
    found = {n: find(n, v) for n, v in KERNEL_WHEELS.items()}
    if None in found.values():
        raise LabBuildError(f"no pure-Python wheel for {[n for n, p in found.items() if p is None]}.")
    return list(found.values())


def _inputs_key(wheels: list[Path]) -> str:
    digest = hashlib.sha256()
    for name in ("jupyterlite-core", "jupyterlite-pyodide-kernel"):
        digest.update(f"{name}=={metadata.version(name)}\n".encode())
    for path in sorted(p for p in SOURCE.rglob("*") if p.is_file()) + [Path(__file__)]:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    for wheel in sorted(wheels):
        digest.update(wheel.name.encode() + b"\0" + hashlib.sha256(wheel.read_bytes()).digest())
    return digest.hexdigest()[:16]


def _jupyter_lite_build(work: Path, wheels: list[Path], python: str) -> Path:
    lite, out = work / "lite", work / "out" / "lab"
    lite.mkdir(parents=True)
    shutil.copy2(SOURCE / "jupyter-lite.json", lite / "jupyter-lite.json")
    (lite / "pypi").mkdir()
    for wheel in wheels:  # the lite folder's pypi/ is what piplite serves and indexes
        shutil.copy2(wheel, lite / "pypi" / wheel.name)
    cmd = [python, "-m", "jupyterlite_core", "build", "--lite-dir", str(lite), "--output-dir", str(out),
           "--contents", str(SOURCE / "notebooks"), "--apps", "lab", "--no-sourcemaps",
           "--no-unused-shared-packages"]
    result = subprocess.run(cmd, cwd=lite, capture_output=True, text=True)
    if result.returncode != 0:
        raise LabBuildError(f"jupyter lite build failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    page = out / LAB_PAGE
    page.write_text(page.read_text().replace("</head>", f"  {PAGE_SCRIPT}\n</head>", 1))
    shutil.copy2(SOURCE / "pagellm-lab.js", out / "pagellm-lab.js")
    return out


def build_lab(dist: Path, wheels: list[Path], cache: Path, python: str) -> dict:
    """Write dist/lab/ (from the cache when its inputs are unchanged); returns its size and build time."""
    started = time.monotonic()
    all_wheels = kernel_wheels(cache, python) + list(wheels)
    required = {_norm(n) for n in KERNEL_WHEELS} | {_norm(w.name.split("-")[0]) for w in wheels}
    key = _inputs_key(all_wheels)
    built = cache / "lab" / key
    if built.exists():
        try:
            check_lab(built, required)
        except LabBuildError:
            shutil.rmtree(built)
    rebuilt = not built.exists()
    if rebuilt:
        work = cache / "lab" / f"work-{key}"
        shutil.rmtree(work, ignore_errors=True)
        out = _jupyter_lite_build(work, all_wheels, python)
        check_lab(out, required)
        now = time.time_ns()
        for path in out.rglob("*"):  # JupyterLite dates every file 1985: the site's hash cache goes by mtime
            os.utime(path, ns=(now, now))
        out.rename(built)
        shutil.rmtree(work)
        for old in (cache / "lab").iterdir():  # earlier builds: only the current one is kept
            if old.name != key:
                shutil.rmtree(old, ignore_errors=True)
    target = dist / "lab"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(built, target, copy_function=_link)  # hard links: the cache's files are never changed
    files = [p for p in target.rglob("*") if p.is_file()]
    return {"files": len(files), "bytes": sum(p.stat().st_size for p in files), "rebuilt": rebuilt,
            "seconds": time.monotonic() - started}


def _link(src: str, dest: str) -> None:
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)
