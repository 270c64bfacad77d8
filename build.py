#!/usr/bin/env python3
"""pagellm's one entry point: build | serve | test | models | bench.

    python build.py serve            # build dist/ and serve it on http://127.0.0.1:8000/
    python build.py test [-k x]      # build, then run the whole test suite (pytest args pass through)
    python build.py build            # only write dist/
    python build.py models [ids]     # only convert the bundled models
    python build.py bench            # benchmarks (bench/)

Each command first installs what is missing: Python dependencies into a project-local .venv (created
here, then this script re-runs itself inside it) and npm packages with `npm ci`. Every step is
incremental: unchanged inputs are not rebuilt.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
CACHE = ROOT / ".cache"
DIST = ROOT / "dist"
NODE = ROOT / "node_modules"

# Wheels the page installs in Pyodide, with the registry pins they come from. micropip and packaging
# must be the very versions Pyodide's lock names: PyPI's files, their sha256 rewritten.
PYODIDE_WHEELS = {"micropip": "0.11.1", "packaging": "26.1"}
PAGE_WHEELS = {"transformers-js-py": "0.19.10", "pypdf": "7.1.0"}
LLAMA_CPP = "llama-cpp-python==0.3.36"
PYODIDE_CORE = ["pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip"]
# ONNX Runtime's builds: asyncify (what Transformers.js loads by default) serves WebGPU and WebAssembly;
# the plain build serves WebAssembly only, and runs its kernels about twice as fast (pagellm.page_runtime).
ORT_FILES = ["ort-wasm-simd-threaded.asyncify.mjs", "ort-wasm-simd-threaded.asyncify.wasm",
             "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"]
VENDOR_FILES = {
    "vendor/transformers.min.js": "@huggingface/transformers/dist/transformers.min.js",
    "vendor/marked.esm.js": "marked/lib/marked.esm.js",
    "vendor/purify.es.mjs": "dompurify/dist/purify.es.mjs",
    "vendor/highlight.min.js": "@highlightjs/cdn-assets/es/highlight.min.js",
    "vendor/katex/katex.mjs": "katex/dist/katex.mjs",
    "vendor/katex/katex.min.css": "katex/dist/katex.min.css",
}
# The browsers the page supports all read woff2: KaTeX's CSS tries it first, so the other formats are not served.
KATEX_FONTS = ("katex/dist/fonts", "*.woff2")
# PNG icons rasterised from web/icon.svg by sharp (npm): (size, maskable). A maskable icon is drawn on a
# full-bleed background with the symbol inside the safe zone (the middle 80%).
ICONS = {"icons/icon-192.png": (192, False), "icons/icon-512.png": (512, False), "icons/maskable-512.png": (512, True)}


class BuildError(Exception):
    """A step failed: the message says what and how to fix it."""


def say(message: str) -> None:
    print(f"[pagellm] {message}", flush=True)


def run(cmd: list[str], what: str, fix: str, **kwargs) -> None:
    started = time.monotonic()
    result = subprocess.run(cmd, **kwargs)
    if result.returncode != 0:
        raise BuildError(f"{what} failed (exit {result.returncode}). {fix}")
    say(f"{what}: {time.monotonic() - started:.1f} s")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def stamp_matches(stamp: Path, key: str) -> bool:
    return stamp.exists() and stamp.read_text() == key


# -- environments -----------------------------------------------------------------------------

def in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def venv_python() -> Path:
    return VENV / "bin" / "python"


def ensure_venv(extras: str) -> None:
    """Create .venv with the pinned extras, then re-run this script inside it."""
    key = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    stamp = VENV / ".pagellm-stamp"
    installed = stamp.read_text().splitlines() if stamp.exists() else []
    if key not in installed:
        if not venv_python().exists():
            say("creating .venv")
            run([sys.executable, "-m", "venv", str(VENV)], "creating .venv", "Install python3-venv.")
        pip = [str(venv_python()), "-m", "pip", "--disable-pip-version-check"]
        wheels = CACHE / "wheels"
        wheels.mkdir(parents=True, exist_ok=True)
        if "test" in extras and not list(wheels.glob("llama_cpp_python-*.whl")):
            # Built once from the sdist (about 15 min on 2 cores), then reused from this folder.
            say(f"building {LLAMA_CPP} (once; ~15 min on 2 cores)")
            run(pip + ["wheel", "--no-deps", LLAMA_CPP, "-w", str(wheels)], f"building {LLAMA_CPP}",
                "It compiles llama.cpp: check gcc/cmake are installed and there is 1 GB free.",
                env={**os.environ, "CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count() or 2)})
        say("installing Python dependencies into .venv")
        run(pip + ["install", "--find-links", str(wheels), "-e", f"{ROOT}[{extras}]"],
            "pip install", "Check that PyPI is reachable (pip config) and retry.")
        stamp.write_text("\n".join([*installed, key]))  # each set of extras installed so far
    if not in_venv():
        os.execv(str(venv_python()), [str(venv_python()), str(Path(__file__).resolve()), *sys.argv[1:]])


def ensure_npm() -> None:
    lock = ROOT / "package-lock.json"
    key = hashlib.sha256(lock.read_bytes()).hexdigest()
    stamp = NODE / ".pagellm-stamp"
    if stamp_matches(stamp, key):
        return
    if not shutil.which("npm"):
        raise BuildError("npm is not installed: install Node.js 20 and npm (apt-get install -y nodejs npm).")
    say("installing npm packages (npm ci)")
    # --ignore-scripts: onnxruntime-node's post-install downloads from outside, and the page needs no Node runtime.
    run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], "npm ci",
        "Check that the npm registry is reachable and package-lock.json is intact.", cwd=ROOT)
    stamp.write_text(key)


# -- dist/ ------------------------------------------------------------------------------------

def copy(src: Path, dest: Path) -> None:
    """Copy (hard-link when possible: model files are large) unless dest is already the same file."""
    if not src.exists():
        raise BuildError(f"missing input {src.relative_to(ROOT) if src.is_relative_to(ROOT) else src}: "
                         "run `npm ci --ignore-scripts` or rebuild the models.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        if dest.stat().st_ino == src.stat().st_ino:
            return
        same = dest.stat().st_size == src.stat().st_size and dest.stat().st_mtime_ns == src.stat().st_mtime_ns
        if same:
            return
        dest.unlink()
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def pip_download(name: str, version: str, python_version: str | None = None) -> Path:
    downloads = CACHE / "downloads"
    found = list(downloads.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
    if found:
        return found[0]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(downloads),
           f"{name}=={version}"]
    if python_version:
        cmd += ["--python-version", python_version]
    run(cmd, f"downloading {name}=={version}", "Check that PyPI is reachable.")
    found = list(downloads.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
    if not found:
        raise BuildError(f"pip downloaded no wheel for {name}=={version}.")
    return found[0]


def build_pagellm_wheel() -> Path:
    """The pagellm wheel for the page, rebuilt only when pysrc/ or pyproject.toml change."""
    sources = sorted(p for p in (ROOT / "pysrc").rglob("*.py")) + [ROOT / "pyproject.toml"]
    digest = hashlib.sha256()
    for path in sources:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    out = CACHE / "pagellm-wheel" / digest.hexdigest()[:16]
    found = list(out.glob("pagellm-*.whl"))
    if found:
        return found[0]
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
        "building the pagellm wheel", "See the error above.")
    # pip leaves a build/ folder behind when building in-tree.
    shutil.rmtree(ROOT / "build", ignore_errors=True)
    return next(out.glob("pagellm-*.whl"))


def write_python_archive(dist: Path, wheels: list[str]) -> Path:
    """The page's Python packages as one zip that PyScript unpacks into the worker's file system.
    Listing the wheels as `packages` made PyScript load micropip and packaging and run an install
    (0.4-0.5 s of every boot); the packages are pure Python, so unpacking is all they need. The wheels
    stay in dist/wheels/ for other PyScript pages that use the Python API (README)."""
    out = dist / "python" / "site.zip"
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for wheel in wheels:
            with zipfile.ZipFile(dist / wheel) as source:
                for info in source.infolist():
                    if ".dist-info/" not in info.filename:
                        # a fixed date: the same inputs give the same bytes (and the same sha256)
                        archive.writestr(zipfile.ZipInfo(info.filename, (2020, 1, 1, 0, 0, 0)), source.read(info))
    return out


def write_pyodide(dist: Path) -> list[str]:
    """Pyodide core plus a lock that lists only what is served, with the served files' sha256."""
    src = NODE / "pyodide"
    for name in PYODIDE_CORE:
        copy(src / name, dist / "pyodide" / name)
    lock = json.loads((src / "pyodide-lock.json").read_text())
    served = {}
    for name, version in PYODIDE_WHEELS.items():
        wheel = pip_download(name, version, python_version="3.14")
        entry = lock["packages"][name]
        if entry["version"] != version:
            raise BuildError(f"Pyodide's lock wants {name} {entry['version']}, build.py pins {version}: align them.")
        copy(wheel, dist / "pyodide" / wheel.name)
        served[name] = {**entry, "file_name": wheel.name, "sha256": sha256_file(wheel)}
    lock["packages"] = served
    (dist / "pyodide" / "pyodide-lock.json").write_text(json.dumps(lock, indent=1))
    wheels = []
    for name, version in PAGE_WHEELS.items():
        wheel = pip_download(name, version)
        copy(wheel, dist / "wheels" / wheel.name)
        wheels.append(f"./wheels/{wheel.name}")
    own = build_pagellm_wheel()
    for old in (dist / "wheels").glob("pagellm-*.whl"):
        old.unlink()
    shutil.copy2(own, dist / "wheels" / own.name)
    wheels.append(f"./wheels/{own.name}")
    return wheels


def write_models(dist: Path, model_ids: list[str] | None) -> dict:
    sys.path.insert(0, str(ROOT))
    from models.catalog import load_catalog
    from models.recipe import build_models

    from pagellm.dtypes import LOCAL_PREFERENCE, choose_dtype, session_options
    from pagellm.local_choices import download_files

    catalog = load_catalog()
    wanted = model_ids or [m.id for m in catalog.models]
    built = build_models(wanted)
    entries = []
    for model in catalog.models:
        if model.id not in built:
            continue
        folder = built[model.id]
        files = {}
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder).as_posix()
            if path.is_file() and (rel.endswith(".json") and "/" not in rel or rel.startswith("onnx/")):
                if rel == "recipe-report.json":
                    continue
                copy(path, dist / "models" / model.id / rel)
                files[rel] = path.stat().st_size
        # What the engine will fetch on each device (the page starts that download while Python boots);
        # the choice is the engine's own (pagellm.local_choices), so page and worker cannot disagree.
        chosen = {device: choose_dtype(device, model.dtypes) for device in LOCAL_PREFERENCE}
        fetched = {device: download_files(dtype) for device, dtype in chosen.items()}
        optimized = json.loads((folder / "recipe-report.json").read_text(encoding="utf-8")).get("runtime_optimized", [])
        # The options those sessions are created with: the early load (python-boot.mjs) uses them as they are.
        options = {device: session_options(device, dtype, optimized) for device, dtype in chosen.items()}
        entries.append({**model.to_dict(), "files": files, "fetched_files": fetched,
                        "runtime_optimized": optimized, "session_options": options,
                        "for_tests": model.source.kind == "tiny-random",  # offered only when a link names it
                        "download_bytes": sum(files[rel] for rel in fetched["wasm"] if rel in files)})
    default = catalog.default.id if catalog.default.id in built else entries[0]["id"]
    index = {"default": default, "models": entries, "suggested": catalog.suggested,
             "embedders": write_embedders(dist)}
    (dist / "models" / "catalog.json").write_text(json.dumps(index, indent=1))
    return index


def write_embedders(dist: Path) -> list[dict]:
    """The sentence-embedding models (retrieval over attachments) in dist/models/<id>/, as catalog entries."""
    from models.catalog import load_catalog
    from models.embedder import build_embedders
    from models.recipe import page_files

    catalog = load_catalog()
    entries = []
    for embedder_id, folder in build_embedders(catalog=catalog).items():
        files = {}
        for path in page_files(folder):
            rel = path.relative_to(folder).as_posix()
            copy(path, dist / "models" / embedder_id / rel)
            files[rel] = path.stat().st_size
        entries.append({**catalog.embedder(embedder_id).to_dict(), "files": files})
    return entries


def write_lab(dist: Path, wheels: list[str]) -> None:
    """dist/lab/: the notebook lab (build_lab.py), its kernel on the site's Pyodide and wheels."""
    import build_lab

    try:
        lab = build_lab.build_lab(dist, [dist / wheel for wheel in wheels], CACHE, sys.executable)
    except build_lab.LabBuildError as err:
        raise BuildError(f"{err} (build_lab.py)") from None
    say(f"lab/: {lab['files']} files, {lab['bytes'] / 1e6:.1f} MB "
        f"({'built' if lab['rebuilt'] else 'unchanged'}, {lab['seconds']:.1f} s)")


def write_providers(dist: Path) -> None:
    """The remote presets, from the Python package (one source of truth), for the page's picker."""
    sys.path.insert(0, str(ROOT / "pysrc"))
    from pagellm.providers import PROVIDERS

    (dist / "providers.json").write_text(json.dumps([p.to_dict() for p in PROVIDERS.values()], indent=1))


def write_site_config(dist: Path) -> dict:
    """site.json: site.toml checked (pagellm.site_config); a malformed file fails the build with its line."""
    sys.path.insert(0, str(ROOT / "pysrc"))
    from pagellm.errors import InputError
    from pagellm.site_config import parse_site_config

    try:
        config = parse_site_config((ROOT / "site.toml").read_text(encoding="utf-8"))
    except InputError as err:
        raise BuildError(str(err)) from None
    (dist / "site.json").write_text(json.dumps(config, indent=1, ensure_ascii=False))
    return config


def write_python_snapshot(dist: Path) -> str:
    """The Python memory snapshot the page starts from (build_snapshot.mjs), named after the Pyodide files
    and the page's packages that made it: it is valid for those only. Cached by the same key."""
    inputs = [dist / "pyodide" / name for name in PYODIDE_CORE] + [dist / "python" / "site.zip", ROOT / "build_snapshot.mjs"]
    key = hashlib.sha256(b"".join(sha256_file(path).encode() for path in inputs)).hexdigest()[:24]
    rel = f"python/snapshot-{key}.gz"
    cached = CACHE / "python-snapshot" / f"{key}.gz"
    if not cached.exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        run(["node", str(ROOT / "build_snapshot.mjs"), str(dist / "pyodide"), str(dist / "python" / "site.zip"),
             str(cached.with_suffix(".part"))], "making the Python memory snapshot", "See the error above.")
        cached.with_suffix(".part").replace(cached)
    for old in (dist / "python").glob("snapshot-*.gz"):
        if old.name != Path(rel).name:
            old.unlink()
    copy(cached, dist / rel)
    return rel


def write_page_modules(dist: Path, python_snapshot: str) -> None:
    """The page's JavaScript that Python owns: the protocol's kinds and fields (pagellm.protocol), and
    the facts the page shares with the package (dtype files, the settings' bounds, the Python snapshot)."""
    sys.path.insert(0, str(ROOT / "pysrc"))
    from pagellm import protocol
    from pagellm.dtypes import DTYPE_FILES
    from pagellm.page_runtime import ORT_BUILDS
    from pagellm.settings import form_bounds

    (dist / "protocol.js").write_text(protocol.javascript())
    (dist / "facts.js").write_text("// Written by build.py from the pagellm package: edit it there, not here.\n"
                                   f"export const DTYPE_FILES = Object.freeze({json.dumps(DTYPE_FILES)});\n"
                                   f"export const SETTING_BOUNDS = Object.freeze({json.dumps(form_bounds())});\n"
                                   f"export const ORT_BUILDS = Object.freeze({json.dumps(ORT_BUILDS)});\n"
                                   f"export const PYTHON_SNAPSHOT = {json.dumps(python_snapshot)};\n")


# The page's own modules (the worker-side engine-env.js and sandbox-worker.js are not): index.html
# preloads each with its integrity hash.
def page_modules(dist: Path) -> list[str]:
    skip = {"sw.js", "sandbox-worker.js", "engine-env.js", "highlight-worker.js"}
    own = sorted(p.name for p in dist.glob("*.js") if p.name not in skip and (ROOT / "web" / p.name).exists())
    return own + ["locales/en.js", "protocol.js", "facts.js", "vendor/marked.esm.js", "vendor/purify.es.mjs", "vendor/katex/katex.mjs"]


ICON_SCRIPT = """
const sharp = require("sharp");
const [svgPath, out, size, maskable, background] = process.argv.slice(1);
const n = Number(size);
(async () => {
  const image = maskable === "1"
    ? sharp({ create: { width: n, height: n, channels: 4, background } })
        .composite([{ input: await sharp(svgPath).resize(Math.round(n * 0.72)).png().toBuffer(), gravity: "center" }])
    : sharp(svgPath).resize(n, n);
  await image.png().toFile(out);
})().catch((err) => { console.error(err.message); process.exit(1); });
"""


def write_icons(dist: Path) -> None:
    """The manifest's PNG icons from web/icon.svg, cached by the SVG, the script and sharp's version."""
    svg = ROOT / "web" / "icon.svg"
    background = json.loads((ROOT / "web" / "manifest.webmanifest").read_text())["theme_color"]
    sharp_version = json.loads((NODE / "sharp" / "package.json").read_text())["version"]
    key = hashlib.sha256(svg.read_bytes() + ICON_SCRIPT.encode() + background.encode() + sharp_version.encode()).hexdigest()[:16]
    cache = CACHE / "icons" / key
    for rel, (size, maskable) in ICONS.items():
        target = cache / rel
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            run(["node", "-e", ICON_SCRIPT, str(svg), str(target), str(size), "1" if maskable else "0", background],
                f"drawing {rel}", "sharp (npm) rasterises web/icon.svg: run `npm ci --ignore-scripts`.", cwd=ROOT)
        copy(target, dist / rel)


def write_manifest(dist: Path) -> dict:
    """Every served file with its size and sha256 (hashes cached by size and mtime)."""
    cache_file = CACHE / "hash-cache.json"
    cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    files = {}
    for path in sorted(dist.rglob("*")):
        if not path.is_file() or path.relative_to(dist).as_posix() in ("manifest.json", "sw.js"):
            continue
        stat = path.stat()
        rel = path.relative_to(dist).as_posix()
        key = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
        if cache.get(rel, {}).get("key") != key:
            cache[rel] = {"key": key, "sha256": sha256_file(path)}
        files[rel] = {"size": stat.st_size, "sha256": cache[rel]["sha256"]}
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    cache_file.write_text(json.dumps(cache))
    manifest = {"files": files, "total_bytes": sum(f["size"] for f in files.values())}
    (dist / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def build(model_ids: list[str] | None = None) -> Path:
    ensure_npm()
    started = time.monotonic()
    DIST.mkdir(exist_ok=True)
    wheels = write_pyodide(DIST)
    for rel, src in VENDOR_FILES.items():
        copy(NODE / src, DIST / rel)
    for font in (NODE / KATEX_FONTS[0]).glob(KATEX_FONTS[1]):
        copy(font, DIST / "vendor" / "katex" / "fonts" / font.name)
    for name in ORT_FILES:
        copy(NODE / "onnxruntime-web" / "dist" / name, DIST / "vendor" / "ort" / name)
    pyscript = NODE / "@pyscript" / "core" / "dist"
    for path in pyscript.iterdir():
        if path.suffix in (".js", ".css") and path.is_file():
            copy(path, DIST / "pyscript" / path.name)
    web = ROOT / "web"
    for path in web.rglob("*"):
        if path.is_file() and path.name != "sw.js":
            (DIST / path.relative_to(web)).parent.mkdir(parents=True, exist_ok=True)  # web/locales/
            shutil.copy2(path, DIST / path.relative_to(web))
    config = json.loads((web / "pyscript.json").read_text())
    config["files"] = {f"./{write_python_archive(DIST, wheels).relative_to(DIST).as_posix()}": "./site/*"}
    (DIST / "pyscript.json").write_text(json.dumps(config, indent=1))
    write_page_modules(DIST, write_python_snapshot(DIST))
    write_icons(DIST)
    site = write_site_config(DIST)
    write_index(DIST, site)
    write_providers(DIST)
    write_models(DIST, model_ids)
    write_lab(DIST, wheels)
    manifest = write_manifest(DIST)
    write_service_worker(DIST, manifest)
    say(f"dist/ ready: {len(manifest['files'])} files, {manifest['total_bytes'] / 1e6:.1f} MB "
        f"({time.monotonic() - started:.1f} s)")
    return DIST


# The page's content security policy (a <meta> tag: static hosts cannot send headers). Scripts come only
# from the site: 'wasm-unsafe-eval' lets Pyodide and ONNX Runtime compile WebAssembly, blob: is how PyScript
# starts its worker, and 'unsafe-eval' is needed because PyScript builds its worker hooks with Function()
# (without it PyScript silently falls back to a CDN interpreter). No 'unsafe-inline': injected inline
# scripts and event-handler attributes stay blocked. connect-src allows the site, any https endpoint and
# loopback servers: the remote endpoint is the user's choice, made after the policy is fixed. SECURITY.md.
CSP = {
    "default-src": "'self'",
    "script-src": "'self' 'wasm-unsafe-eval' 'unsafe-eval' blob:",
    "worker-src": "'self' blob:",
    "connect-src": "'self' https: http://localhost:* http://127.0.0.1:*",
    "img-src": "'self' data: blob:",
    "style-src": "'self' 'unsafe-inline'",
    "font-src": "'self'",
    "object-src": "'none'",
    "frame-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'none'",
    "manifest-src": "'self'",
}


def sri(path: Path) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(path.read_bytes()).digest()).decode()


def write_index(dist: Path, site: dict) -> None:
    """index.html with the site's title and tagline, the content security policy and integrity hashes
    for the scripts it names."""
    from html import escape

    html = (ROOT / "web" / "index.html").read_text()
    html = html.replace("<title>pagellm — a chat LLM in this page</title>", f"<title>{escape(site['title'])}</title>")
    html = html.replace('<h1 id="site-title">pagellm</h1>', f'<h1 id="site-title">{escape(site["title"])}</h1>')
    html = html.replace('<p class="tagline" id="site-tagline"></p>', f'<p class="tagline" id="site-tagline">{escape(site["tagline"])}</p>')
    policy = "; ".join(f"{name} {value}" for name, value in CSP.items())
    html = html.replace("<meta charset=\"utf-8\">",
                        f"<meta charset=\"utf-8\">\n  <meta http-equiv=\"Content-Security-Policy\" content=\"{policy}\">", 1)
    for rel in (*page_modules(dist), "app.css", "vendor/katex/katex.min.css"):
        target = f'href="./{rel}"' if rel.endswith(".css") else f'src="./{rel}"'
        preload = f'<link rel="modulepreload" href="./{rel}">'
        if target in html:
            html = html.replace(target, f'{target} integrity="{sri(dist / rel)}"')
        if preload in html:
            html = html.replace(preload, f'<link rel="modulepreload" href="./{rel}" integrity="{sri(dist / rel)}">')
        elif not rel.endswith(".css") and rel != "app.js":
            html = html.replace("</head>", f'  <link rel="modulepreload" href="./{rel}" integrity="{sri(dist / rel)}">\n</head>', 1)
    (dist / "index.html").write_text(html)


def write_service_worker(dist: Path, manifest: dict) -> None:
    """sw.js with this build's file list and hashes baked in: a new build is a new service worker."""
    files = {rel: {"size": f["size"], "sha256": f["sha256"]} for rel, f in manifest["files"].items()}
    build_id = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]
    template = (ROOT / "web" / "sw.js").read_text()
    if "__PAGELLM_BUILD__" not in template:
        raise BuildError("web/sw.js lost its __PAGELLM_BUILD__ placeholder.")
    sys.path.insert(0, str(ROOT / "pysrc"))
    from pagellm.site_headers import for_service_worker

    # BUILD.isolation and BUILD.types: the headers and MIME types the worker adds (pagellm.site_headers).
    build_info = json.dumps({"id": build_id, "files": files, **for_service_worker()}, separators=(",", ":"))
    (dist / "sw.js").write_text(template.replace("__PAGELLM_BUILD__", build_info))


# -- serving ----------------------------------------------------------------------------------

def make_server(root: Path, port: int = 0, *, isolate: bool = True, prefix: str = "/", host: str = "127.0.0.1",
                on_request=None):
    """A threaded static server for dist/: MIME types and COOP/COEP (optional) from pagellm.site_headers,
    optional sub-path; ``on_request(path)`` is told every GET (tests count downloads with it)."""
    import functools
    import http.server

    sys.path.insert(0, str(ROOT / "pysrc"))
    from pagellm.site_headers import ISOLATION_HEADERS, MIME_TYPES

    prefix = "/" + prefix.strip("/") + "/" if prefix.strip("/") else "/"

    class Handler(http.server.SimpleHTTPRequestHandler):
        extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                          **{f".{ext}": kind for ext, kind in MIME_TYPES.items()}}

        def do_GET(self):
            if on_request:
                on_request(self.path.split("?", 1)[0])
            super().do_GET()

        def translate_path(self, path):
            path = path.split("?", 1)[0].split("#", 1)[0]
            if not path.startswith(prefix):
                return str(root / "__outside_prefix__")
            return super().translate_path("/" + path[len(prefix):])

        def end_headers(self):
            if isolate:
                for name, value in ISOLATION_HEADERS.items():
                    self.send_header(name, value)
            self.send_header("Cache-Control", "no-cache")
            super().end_headers()

        def log_message(self, *args):  # quiet: tests and serve print what matters
            pass

    handler = functools.partial(Handler, directory=str(root))
    server = http.server.ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def serve(port: int) -> None:
    server = make_server(DIST, port)
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    say(f"serving dist/ at {url}  (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


# -- commands ---------------------------------------------------------------------------------

def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="build.py", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="write dist/")
    serve_cmd = sub.add_parser("serve", help="build, then serve dist/ on localhost")
    serve_cmd.add_argument("--port", type=int, default=8000)
    sub.add_parser("test", help="build, then run pytest (extra args pass through)")
    models_cmd = sub.add_parser("models", help="convert the catalog's models")
    models_cmd.add_argument("ids", nargs="*")
    sub.add_parser("bench", help="run the benchmarks (extra args pass through)")
    args, rest = parser.parse_known_args(argv)
    if rest and args.command not in ("test", "bench"):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")

    try:
        # The page only needs the build tools; tests and benchmarks also need llama.cpp's server.
        ensure_venv("build,test" if args.command in ("test", "bench") else "build")
        if args.command == "models":
            sys.path.insert(0, str(ROOT))
            from models.recipe import build_models
            build_models(args.ids or None)
        elif args.command == "build":
            build()
        elif args.command == "serve":
            build()
            serve(args.port)
        elif args.command == "test":
            build()
            if not shutil.which("chromium"):
                raise BuildError("Chromium is missing: install it with `apt-get install -y chromium`.")
            return subprocess.call([sys.executable, "-m", "pytest", *rest], cwd=ROOT)
        elif args.command == "bench":
            build()
            return subprocess.call([sys.executable, str(ROOT / "bench" / "run.py"), *rest], cwd=ROOT)
    except BuildError as err:
        print(f"[pagellm] error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
