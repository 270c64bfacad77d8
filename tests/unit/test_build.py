"""build.py's own logic: the manifest, the Pyodide lock it writes, the static server."""

from __future__ import annotations

import hashlib
import json
import threading
import urllib.request

import pytest

import build


def test_manifest_lists_every_file_with_size_and_sha256(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "CACHE", tmp_path / "cache")
    site = tmp_path / "site"
    (site / "a").mkdir(parents=True)
    (site / "index.html").write_text("<html>")
    (site / "a" / "b.wasm").write_bytes(b"\0asm")
    manifest = build.write_manifest(site)
    assert set(manifest["files"]) == {"index.html", "a/b.wasm"}
    assert manifest["files"]["a/b.wasm"] == {"size": 4, "sha256": hashlib.sha256(b"\0asm").hexdigest()}
    assert json.loads((site / "manifest.json").read_text()) == manifest
    # A changed file gets a new hash even though the hash cache knew the old one.
    (site / "index.html").write_text("<html><body>changed")
    again = build.write_manifest(site)
    assert again["files"]["index.html"]["sha256"] == hashlib.sha256(b"<html><body>changed").hexdigest()
    assert again["total_bytes"] == 4 + len("<html><body>changed")


def test_built_pyodide_lock_lists_exactly_the_served_wheels():
    lock_path = build.DIST / "pyodide" / "pyodide-lock.json"
    if not lock_path.exists():
        pytest.fail("dist/ is not built: run the tests through `python build.py test`.")
    lock = json.loads(lock_path.read_text())
    assert set(lock["packages"]) == set(build.PYODIDE_WHEELS)
    for name, entry in lock["packages"].items():
        served = build.DIST / "pyodide" / entry["file_name"]
        assert served.exists(), f"the lock names {entry['file_name']}, which dist/ does not serve"
        assert entry["sha256"] == build.sha256_file(served)
        assert entry["version"] == build.PYODIDE_WHEELS[name]


def test_built_manifest_matches_dist():
    manifest = json.loads((build.DIST / "manifest.json").read_text())
    on_disk = {p.relative_to(build.DIST).as_posix() for p in build.DIST.rglob("*") if p.is_file()} - {"manifest.json", "sw.js"}
    assert set(manifest["files"]) == on_disk
    for rel in ("index.html", "app.js", "pyodide/pyodide.asm.wasm", "models/catalog.json"):
        assert manifest["files"][rel]["sha256"] == build.sha256_file(build.DIST / rel)


def test_python_archive_holds_the_packages_and_is_reproducible(tmp_path):
    import zipfile

    wheels = []
    for name, files in {"a-1.0-py3-none-any.whl": {"a/__init__.py": "x = 1\n", "a-1.0.dist-info/METADATA": "m"},
                        "b-2.0-py3-none-any.whl": {"b/core.py": "y = 2\n"}}.items():
        (tmp_path / "wheels").mkdir(exist_ok=True)
        with zipfile.ZipFile(tmp_path / "wheels" / name, "w") as wheel:
            for rel, text in files.items():
                wheel.writestr(rel, text)
        wheels.append(f"./wheels/{name}")
    archive = build.write_python_archive(tmp_path, wheels)
    assert sorted(zipfile.ZipFile(archive).namelist()) == ["a/__init__.py", "b/core.py"]  # no dist-info
    assert zipfile.ZipFile(archive).read("b/core.py") == b"y = 2\n"
    first = archive.read_bytes()
    assert build.write_python_archive(tmp_path, wheels).read_bytes() == first


def test_built_config_unpacks_the_archive_instead_of_installing_wheels():
    config = json.loads((build.DIST / "pyscript.json").read_text())
    # any "packages" key, even an empty list, makes PyScript load micropip on every boot
    assert "packages" not in config
    [(url, target)] = config["files"].items()
    assert target == "./site/*" and (build.DIST / url).is_file()


def serve(root, **options):
    server = build.make_server(root, 0, **options)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def test_server_sends_mime_types_isolation_headers_and_honours_a_prefix(tmp_path):
    (tmp_path / "x.wasm").write_bytes(b"\0asm")
    (tmp_path / "m.mjs").write_text("export {}")
    server, url = serve(tmp_path, prefix="/some/prefix/")
    try:
        with urllib.request.urlopen(f"{url}/some/prefix/x.wasm") as response:
            assert response.headers["Content-Type"] == "application/wasm"
            assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
            assert response.headers["Cross-Origin-Embedder-Policy"] == "credentialless"
        with urllib.request.urlopen(f"{url}/some/prefix/m.mjs") as response:
            assert response.headers["Content-Type"] == "text/javascript"
        with pytest.raises(urllib.error.HTTPError) as outside:
            urllib.request.urlopen(f"{url}/x.wasm")
        assert outside.value.code == 404
    finally:
        server.shutdown()


def test_build_errors_say_what_to_do(tmp_path):
    with pytest.raises(build.BuildError, match="missing input"):
        build.copy(tmp_path / "nope.js", tmp_path / "out.js")
    with pytest.raises(build.BuildError, match="failed .exit 3.. Do this"):
        build.run(["sh", "-c", "exit 3"], "a step", "Do this.")


def test_built_catalog_names_the_files_saved_optimized_and_their_session_options():
    catalog = json.loads((build.DIST / "models" / "catalog.json").read_text())
    # The recipe saves the int8 file of each model it converts; a folder source is used as it is.
    converted = [entry for entry in catalog["models"] if entry["source"]["kind"] != "folder" and "q8" in entry["dtypes"]]
    assert converted
    for entry in converted:
        assert entry["runtime_optimized"] == ["onnx/model_quantized.onnx"], entry["id"]
        # The WebAssembly session of the int8 file runs the basic level only; WebGPU's 4-bit file is optimized as usual.
        assert entry["session_options"] == {"wasm": {"graphOptimizationLevel": "basic"}, "webgpu": {}}, entry["id"]
