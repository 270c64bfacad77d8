"""The examples in the pure modules' docstrings are true."""

import doctest
import importlib

import pytest

MODULES = ["errors", "protocol", "site_config", "messages", "summary", "settings", "stops", "transfer", "sse", "keys", "providers", "openai_protocol", "prefill",
           "tools", "schema", "structured", "hub",
           "fit", "dtypes", "urls", "site_headers", "site", "openai_errors", "remote", "notebook", "page_tools"]

MODULES += ["retrieval", "attachments", "grounding", "page_runtime", "message", "local_choices"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"pagellm.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
