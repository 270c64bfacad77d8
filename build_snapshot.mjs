// The page's Python memory snapshot, made at build time (build.py runs this with Node):
//   node build_snapshot.mjs PYODIDE_DIR SITE_ZIP OUT.gz
// Pyodide starts, unpacks the page's Python packages where PyScript puts them (./site), imports what the
// worker imports before its first reply (pagellm.worker_glue and its PRELOADED modules), and saves its
// memory (Pyodide's loadPyodide({_makeSnapshot}) / makeMemorySnapshot), gzipped. The page loads it with
// {_loadSnapshot} (web/python-snapshot.mjs): Python then starts in a fraction of a second, already
// imported, on every visit. A snapshot is only valid for the very Pyodide files and packages that made
// it: build.py names the file after their hash.
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";

const [pyodideDir, siteZip, out] = process.argv.slice(2);
const { loadPyodide } = await import(path.resolve(pyodideDir, "pyodide.mjs"));
const pyodide = await loadPyodide({ indexURL: path.resolve(pyodideDir) + "/", _makeSnapshot: true });
pyodide.FS.writeFile("/tmp/site.zip", fs.readFileSync(siteZip));
pyodide.runPython(`
import importlib, os, sys, zipfile
site = os.path.abspath("site")  # where PyScript unpacks the archive (pyscript.json) and web/worker.py looks
zipfile.ZipFile("/tmp/site.zip").extractall(site)
os.remove("/tmp/site.zip")
sys.path.insert(0, site)
import pagellm.worker_glue
for name in pagellm.worker_glue.PRELOADED:
    importlib.import_module(name)
sys.path.remove(site)
sys.path_importer_cache.clear()  # the folder is unpacked again at every start
`);
const snapshot = pyodide.makeMemorySnapshot();
fs.writeFileSync(out, zlib.gzipSync(snapshot, { level: 9 }));
console.log(`${out}: ${snapshot.length} bytes, ${fs.statSync(out).size} gzipped`);
