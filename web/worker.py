# The engine side of the page: runs in a PyScript worker, so generation never blocks the page.
# All logic lives in the pagellm package; this file only connects it to the worker's messages.
# `xworker` must be a global here: PyScript dispatches the page's messages to `xworker.onmessage`
# looked up in this script's namespace.
import os
import random
import sys

import js
from polyscript import xworker  # noqa: F401

js.performance.mark("pagellm:worker-script")  # PyScript's own start is done: the start-up profile's marks

# Python may have started from the build's memory snapshot (web/python-snapshot.mjs), the same for every
# visitor: `random` gets a seed of this visit's own.
random.seed()

# pagellm and transformers_js_py arrive as one archive that PyScript unpacks here (pyscript.json).
sys.path.insert(0, os.path.abspath("site"))

from pagellm.worker_glue import serve_worker

js.performance.mark("pagellm:imported")

serve_worker()
