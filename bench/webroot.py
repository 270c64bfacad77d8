"""The benchmark's web root: dist/ as built, plus the peer pages, wllama and the GGUF, on one server.

    site = BenchSite.create(dist=ROOT / "dist", models=["smollm2-135m-instruct"], tokens=128, gguf=path)
    server, base = site.serve()          # http://127.0.0.1:PORT/  (COOP/COEP on, like `build.py serve`)
    ...
    site.close()

Everything is a symbolic link into dist/ (nothing large is copied), except:
- /bench/*           the pages in bench/pages/ (bare Pyodide, plain-JS Transformers.js, wllama);
- /wllama/           node_modules/@wllama/wllama/esm (its ES module and wasm);
- /gguf/model.gguf   the GGUF the bundled model was converted from (wllama's input);
- /models/<id>/generation_config.json gets `min_new_tokens` = the benchmark's token count, so every
  Transformers.js contender (pagellm and the plain-JS page alike) writes exactly that many tokens
  instead of stopping at end-of-sequence (the llama.cpp peers get `ignore_eos` / an EOS bias instead);
- /models/<id>.q4/   the same files with only the 4-bit ONNX listed, and a catalog entry for it, so the
  unchanged page loads q4 on WebAssembly (the page offers no dtype choice of its own);
- manifest.json and sw.js's BUILD line are regenerated for these files (build.write_service_worker, into
  dist/'s own sw.js), so pagellm's service worker verifies and caches this site exactly as that build does.
A model that dist/ lacks but models/build/<id>/ has (built, not yet copied) is linked from there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = Path(__file__).resolve().parent / "pages"
WLLAMA = ROOT / "node_modules" / "@wllama" / "wllama" / "esm"
Q4_SUFFIX = ".q4"
GENERATED = ("manifest.json", "sw.js")


class SiteError(Exception):
    """The benchmark site cannot be assembled: the message says what is missing."""


def _build_module():
    sys.path.insert(0, str(ROOT))
    import build

    return build


@dataclass
class BenchSite:
    root: Path
    models: list[str]
    catalog: dict
    _servers: list = field(default_factory=list)

    @classmethod
    def create(cls, dist: Path, models: list[str], tokens: int, gguf: Path | None = None,
               q4: bool = True) -> "BenchSite":
        if not (dist / "index.html").exists() or not (dist / "manifest.json").exists():
            raise SiteError(f"{dist} is not a complete build: run `python build.py build` first.")
        root = Path(tempfile.mkdtemp(prefix="pagellm-bench-"))
        site = _Assembler(root, dist)
        try:
            for entry in dist.iterdir():
                if entry.name not in ("models", "bench", *GENERATED):
                    site.link_tree(entry, entry.name)
            catalog = json.loads((dist / "models" / "catalog.json").read_text())
            known = {m["id"]: m for m in catalog["models"]}
            for entry in (dist / "models").iterdir():
                if entry.is_dir() and entry.name not in models:
                    site.link_tree(entry, f"models/{entry.name}")
            for model in models:
                folder = dist / "models" / model
                if model not in known or not folder.is_dir():
                    folder, known[model] = _from_build(model)
                site.link_model(folder, f"models/{model}", tokens)
                entry = known[model]
                if q4 and "onnx/model_q4.onnx" in entry.get("files", {}):
                    alias = model + Q4_SUFFIX
                    site.link_model(folder, f"models/{alias}", tokens, only="model_q4.onnx")
                    known[alias] = {**entry, "id": alias, "name": entry["name"] + " (q4)", "dtypes": ["q4"],
                                    "default": False,
                                    "files": {k: v for k, v in entry["files"].items()
                                              if not k.startswith("onnx/") or k == "onnx/model_q4.onnx"}}
            catalog = {**catalog, "models": list(known.values())}
            site.write("models/catalog.json", json.dumps(catalog, indent=1))
            for page in PAGES.iterdir():
                site.write(f"bench/{page.name}", page.read_bytes(), served_by_sw=False)
            if WLLAMA.is_dir():
                os.symlink(WLLAMA, root / "wllama")
            if gguf is not None:
                (root / "gguf").mkdir()
                os.symlink(Path(gguf).resolve(), root / "gguf" / "model.gguf")
            site.finish()
        except Exception:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return cls(root, models, catalog)

    def serve(self) -> tuple[object, str]:
        """A threaded static server on a free loopback port, with the headers `build.py serve` sends. It
        counts the bytes of the files it sends (`served_bytes(base)`): what a visit downloaded."""
        server = _build_module().make_server(self.root, 0, isolate=True)
        _count_bytes(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._servers.append(server)
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        _SERVERS[base] = server
        return server, base

    def close(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        shutil.rmtree(self.root, ignore_errors=True)


_SERVERS: dict = {}


def served_bytes(base: str) -> int | None:
    """Bytes of file bodies the site at `base` has sent so far (None for a site this module did not serve)."""
    server = _SERVERS.get(base)
    return server.bytes_served if server is not None else None


def _count_bytes(server) -> None:
    handler = server.RequestHandlerClass.func  # build.make_server's handler class, made for this server
    send = handler.copyfile
    lock = threading.Lock()
    server.bytes_served = 0

    def copyfile(self, source, outputfile):
        start = source.tell()
        send(self, source, outputfile)
        with lock:
            self.server.bytes_served += source.tell() - start

    handler.copyfile = copyfile


class _Assembler:
    """Links and writes files into the site root, keeping the manifest entry of each served file."""

    def __init__(self, root: Path, dist: Path):
        self.root, self.dist = root, dist
        self.dist_files = json.loads((dist / "manifest.json").read_text())["files"]
        self.files: dict[str, dict] = {}

    def _entry_for(self, src: Path) -> dict:
        try:
            rel = src.resolve().relative_to(self.dist.resolve()).as_posix()
        except ValueError:
            rel = None
        if rel is None:  # dist/ files are hard links: look the path up in dist/ instead
            for candidate, entry in self.dist_files.items():
                if entry["size"] == src.stat().st_size and (self.dist / candidate).exists() \
                        and os.path.samefile(self.dist / candidate, src):
                    rel = candidate
                    break
        if rel in self.dist_files:
            return self.dist_files[rel]
        return {"size": src.stat().st_size, "sha256": _build_module().sha256_file(src)}

    def link(self, src: Path, rel: str) -> None:
        dest = self.root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(src.resolve(), dest)
        self.files[rel] = self._entry_for(src)

    def link_tree(self, src: Path, rel: str) -> None:
        if src.is_dir():
            for path in sorted(src.rglob("*")):
                if path.is_file():
                    self.link(path, f"{rel}/{path.relative_to(src).as_posix()}")
        else:
            self.link(src, rel)

    def write(self, rel: str, data: str | bytes, served_by_sw: bool = True) -> None:
        dest = self.root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        (dest.write_text if isinstance(data, str) else dest.write_bytes)(data)
        if served_by_sw:
            self.files[rel] = {"size": dest.stat().st_size, "sha256": _build_module().sha256_file(dest)}

    def link_model(self, src: Path, rel: str, tokens: int, only: str | None = None) -> None:
        """A model folder's files, with generation_config.json given min_new_tokens."""
        for path in sorted(src.rglob("*")):
            sub = path.relative_to(src)
            if not path.is_file() or sub.name in ("recipe-key.txt", "recipe-report.json"):
                continue
            if only and sub.parts[0] == "onnx" and sub.name != only:
                continue
            if sub.as_posix() == "generation_config.json":
                config = json.loads(path.read_text())
                config["min_new_tokens"] = tokens
                self.write(f"{rel}/{sub.as_posix()}", json.dumps(config, indent=1))
            else:
                self.link(path, f"{rel}/{sub.as_posix()}")

    def finish(self) -> None:
        """manifest.json and, when dist/ has one, a service worker that knows these very files."""
        files = dict(sorted(self.files.items()))
        manifest = {"files": files, "total_bytes": sum(f["size"] for f in files.values())}
        (self.root / "manifest.json").write_text(json.dumps(manifest, indent=1))
        build = _build_module()
        if (self.dist / "sw.js").exists():
            if not hasattr(build, "write_service_worker"):
                raise SiteError("dist/ has a service worker but build.py cannot write one: rebuild dist/.")
            # This build's own service worker (another build's, with --baseline), told about these files:
            # build.py writes the BUILD line, which replaces the one in dist/sw.js.
            build.write_service_worker(self.root, manifest)
            fresh = (self.root / "sw.js").read_text()
            line = re.search(r"^const BUILD = .*;$", fresh, re.M).group(0)
            own = (self.dist / "sw.js").read_text()
            (self.root / "sw.js").write_text(re.sub(r"^const BUILD = .*;$", lambda _: line, own, count=1, flags=re.M))


def _from_build(model: str) -> tuple[Path, dict]:
    """A model built under models/build/ but not (yet) in dist/: its folder and a catalog entry."""
    sys.path.insert(0, str(ROOT))
    try:
        from models.catalog import load_catalog
        from models.recipe import BUILD_DIR
    except ImportError as err:  # pragma: no cover - depends on the checkout
        raise SiteError(f"model {model!r} is not in dist/ and models/ cannot be read ({err}).") from None
    folder = BUILD_DIR / model
    if not (folder / "config.json").exists():
        raise SiteError(f"model {model!r} is neither in dist/models nor built in {folder}: "
                        f"run `python build.py build` (or `python build.py models {model}`).")
    entry = load_catalog().get(model).to_dict()
    files = {p.relative_to(folder).as_posix(): p.stat().st_size for p in sorted(folder.rglob("*"))
             if p.is_file() and p.name not in ("recipe-key.txt", "recipe-report.json")}
    return folder, {**entry, "files": files}
