// The build's Python memory snapshot (build_snapshot.mjs), loaded the way the page loads it: Python starts
// with the worker's modules imported, from the same Pyodide files, with none of the page's folders.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { fileURLToPath } from "node:url";

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../dist");
const facts = fs.readFileSync(path.join(dist, "facts.js"), "utf8");
const file = JSON.parse(facts.match(/PYTHON_SNAPSHOT = ("[^"]+")/)[1]);
const { loadPyodide } = await import(path.join(dist, "pyodide/pyodide.mjs"));

test("the snapshot facts.js names starts Python with the worker's modules already imported", async () => {
  const bytes = zlib.gunzipSync(fs.readFileSync(path.join(dist, file)));
  const pyodide = await loadPyodide({ indexURL: path.join(dist, "pyodide") + "/", _loadSnapshot: bytes });
  const missing = pyodide.runPython(`
import sys
from pagellm.worker_glue import PRELOADED
[name for name in ("pagellm.worker_glue", *PRELOADED) if name not in sys.modules]
`).toJs();
  assert.deepEqual(missing, []);
  // What a module does on import is done; it still works (a pure function of the core).
  assert.equal(pyodide.runPython("from pagellm.urls import hostname; hostname('http://127.0.0.1:8080/v1')"), "127.0.0.1");
});
