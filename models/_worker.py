"""Runs one recipe step in a fresh process, so that its memory is returned when it ends and its peak can be
measured on its own:

    python -m models._worker models.export:export_onnx '{"hf_dir": ..., "out_path": ...}' result.json

The result file gets {"ok": true, "result": ...} or {"ok": false, "error": "...", "expected": bool};
"expected" errors (ConversionError: the source cannot be converted) are shown to the user as they are;
anything else is a bug or an environment problem, and its traceback goes to the step's log.
"""

import importlib
import json
import sys
import traceback
from pathlib import Path

from models.convert import ConversionError


def main() -> None:
    target, kwargs_json, result_path = sys.argv[1:4]
    module_name, func_name = target.split(":")
    try:
        func = getattr(importlib.import_module(module_name), func_name)
        outcome = {"ok": True, "result": func(**json.loads(kwargs_json))}
    except ConversionError as e:
        outcome = {"ok": False, "error": str(e), "expected": True}
    except Exception as e:  # a bug or an environment problem: keep the traceback for the log
        traceback.print_exc()
        outcome = {"ok": False, "error": f"{type(e).__name__}: {e}", "expected": False}
    Path(result_path).write_text(json.dumps(outcome), encoding="utf-8")


if __name__ == "__main__":
    main()
