// Makes the Python memory snapshot (python-snapshot.mjs) in a worker of its own, then answers how it went.
import * as pyodide from "./pyodide/pyodide.mjs";
import { PYTHON_SNAPSHOT_KEY } from "./facts.js";
import { makeSnapshot } from "./python-snapshot.mjs";

makeSnapshot(pyodide, new URL("./pyodide/", import.meta.url).href, PYTHON_SNAPSHOT_KEY).then(
  (size) => postMessage({ made: true, size }),
  (err) => postMessage({ made: false, reason: String(err?.message ?? err) }));
