"""build_lab.py: the check that refuses a lab able to reach outside the site, the cached clean build, and
pagellm's own notebook helpers that run without a browser (site root, %%chat)."""

from __future__ import annotations

import copy
import json
import shutil

import pytest

import build
import build_lab
from pagellm.errors import SiteError
from pagellm.notebook import chat_cell_transform
from pagellm.site import site_root

GOOD = {
    "jupyter-config-data": {
        "disabledExtensions": [build_lab.SW_PLUGIN],
        "litePluginSettings": {build_lab.KERNEL_PLUGIN: {
            "pyodideUrl": "./../pyodide/pyodide.mjs",
            "disablePyPIFallback": True,
            "pipliteUrls": ["./pypi/all.json?sha256=ab", "./extensions/x/static/pypi/all.json?sha256=cd"],
        }},
    },
}


def kernel(config: dict) -> dict:
    return config["jupyter-config-data"]["litePluginSettings"][build_lab.KERNEL_PLUGIN]


def test_a_good_config_passes():
    assert build_lab.check_lab_config(GOOD, {"ipython": {}}, {"ipython"}) == []


@pytest.mark.parametrize("change, named", [
    (lambda c: kernel(c).pop("pyodideUrl"), "pyodideUrl"),
    (lambda c: kernel(c).update(pyodideUrl="https://cdn.jsdelivr.net/pyodide/v314.0.6/full/pyodide.mjs"), "CDN"),
    (lambda c: kernel(c).update(pyodideUrl="../pyodide/pyodide.mjs"), "pyodideUrl"),  # not rebased without ./
    (lambda c: kernel(c).pop("disablePyPIFallback"), "disablePyPIFallback"),
    (lambda c: kernel(c).update(disablePyPIFallback=False), "disablePyPIFallback"),
    (lambda c: kernel(c).update(pipliteUrls=["https://pypi.org/pypi/all.json"]), "pipliteUrls"),
    (lambda c: c["jupyter-config-data"].pop("disabledExtensions"), "service-worker-manager"),
])
def test_each_way_out_is_named(change, named):
    config = copy.deepcopy(GOOD)
    change(config)
    problems = build_lab.check_lab_config(config)
    assert problems and named in " ".join(problems), problems


def test_a_missing_kernel_wheel_is_named():
    problems = build_lab.check_lab_config(GOOD, {"ipython": {}}, {"ipython", "jedi"})
    assert problems == ["the piplite index lacks jedi: the kernel cannot start without them"]


def built_lab() -> build_lab.Path:
    lab = build.DIST / "lab"
    if not (lab / "jupyter-lite.json").exists():
        pytest.fail("dist/lab/ is not built: run the tests through `python build.py test`.")
    return lab


def test_the_built_lab_passes_and_a_dropped_setting_in_it_is_refused(tmp_path):
    required = {build_lab._norm(n) for n in build_lab.KERNEL_WHEELS} | {"pagellm", "transformers-js-py"}
    build_lab.check_lab(built_lab(), required)
    copy_ = tmp_path / "lab"
    shutil.copytree(built_lab(), copy_)  # real copies: dist/ and the cache stay intact
    config = json.loads((copy_ / "jupyter-lite.json").read_text())
    kernel(config).pop("pyodideUrl")
    (copy_ / "jupyter-lite.json").write_text(json.dumps(config))
    with pytest.raises(build_lab.LabBuildError, match="pyodideUrl"):
        build_lab.check_lab(copy_, required)
    (copy_ / "build" / "x.js.map").write_text("{}")
    with pytest.raises(build_lab.LabBuildError, match="source maps"):
        build_lab.check_lab(copy_, required)


def test_the_site_serves_the_lab_but_its_service_worker_does_not_precache_it():
    manifest = json.loads((build.DIST / "manifest.json").read_text())
    assert "lab/lab/index.html" in manifest["files"] and "lab/pypi/all.json" in manifest["files"]
    assert "!isLabFile(path)" in (build.DIST / "sw.js").read_text()
    page = (built_lab() / "lab" / "index.html").read_text()
    assert build_lab.PAGE_SCRIPT in page


def test_an_unchanged_lab_is_reused_and_a_damaged_cache_is_rebuilt(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    wheels_cache = build.CACHE / "lab-wheels"
    if wheels_cache.exists():  # no second download from PyPI
        shutil.copytree(wheels_cache, cache / "lab-wheels")
    wheel = next((build.DIST / "wheels").glob("pagellm-*.whl"))
    dist = tmp_path / "dist"
    first = build_lab.build_lab(dist, [wheel], cache, build.sys.executable)
    assert first["rebuilt"] and first["files"] > 400
    again = build_lab.build_lab(dist, [wheel], cache, build.sys.executable)
    assert not again["rebuilt"]
    # A cached build whose config lost a setting is not trusted: it is built again from an empty folder.
    (cached,) = [p for p in (cache / "lab").iterdir()]
    config_file = cached / "jupyter-lite.json"
    config = json.loads(config_file.read_text())
    kernel(config).pop("disablePyPIFallback")
    config_file.unlink()  # dist/lab holds hard links to the cache: replace, never edit in place
    config_file.write_text(json.dumps(config))
    healed = build_lab.build_lab(dist, [wheel], cache, build.sys.executable)
    assert healed["rebuilt"]
    assert kernel(json.loads((dist / "lab" / "jupyter-lite.json").read_text()))["disablePyPIFallback"] is True


def test_the_site_root_is_found_from_a_kernel_page_or_worker():
    kernel_worker = "/lab/extensions/@jupyterlite/pyodide-kernel-extension/static/coincident.worker.8cc.js"
    assert site_root("https://me.github.io/pagellm" + kernel_worker) == "https://me.github.io/pagellm/"
    assert site_root("http://127.0.0.1:8000" + kernel_worker) == "http://127.0.0.1:8000/"
    assert site_root("http://127.0.0.1:8000/sub/index.html?model=x#y") == "http://127.0.0.1:8000/sub/"
    with pytest.raises(SiteError, match="site_url"):
        site_root("blob:http://127.0.0.1:8000/5b1c")


def test_a_chat_cell_becomes_an_awaited_ask():
    assert chat_cell_transform(["x = 1\n"]) == ["x = 1\n"]
    assert chat_cell_transform(["%%chatter\n"]) == ["%%chatter\n"]
    (line,) = chat_cell_transform(["%%chat remote\n", 'Say "hi"\n', "twice\n"])
    assert line.startswith("await ") and "chat_cell('Say \"hi\"\\ntwice', 'remote', globals())" in line
    compile(line, "<cell>", "exec", flags=0x2000)  # PyCF_ALLOW_TOP_LEVEL_AWAIT: valid in a notebook cell
