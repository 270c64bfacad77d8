"""The page-worker protocol: requests are checked, Blobs travel beside the JSON, and the page's
generated module lists exactly the Python kinds and fields."""

from __future__ import annotations

import json
import re

import pytest

from pagellm import protocol
from pagellm.errors import InputError


def test_every_kind_parses_from_its_own_fields():
    for kind, cls in protocol.REQUESTS.items():
        request = protocol.parse_request({"v": 1, "kind": kind, "id": "x", **cls().to_dict()} | {"kind": kind})
        assert isinstance(request, cls)


@pytest.mark.parametrize("message, words", [
    ([], "not an object"),
    ({"kind": "send"}, "protocol version None"),
    ({"v": 1, "kind": "dance"}, "Unknown request 'dance'"),
    ({"v": 1, "kind": "stop", "now": True}, "does not know: now"),
])
def test_bad_requests_say_what_is_wrong(message, words):
    with pytest.raises(InputError, match=re.escape(words)):
        protocol.parse_request(message)


def test_blobs_are_put_back_where_the_page_took_them_out():
    blobs = ["BLOB0", "BLOB1"]
    text = json.dumps({"kind": "load", "files": [{"path": "a", "blob": {"$blob": 1}}], "hub": {"x": [{"$blob": 0}]}})
    assert protocol.unpack(text, blobs) == {"kind": "load", "files": [{"path": "a", "blob": "BLOB1"}], "hub": {"x": ["BLOB0"]}}


def test_the_generated_module_lists_every_kind_and_field():
    source = protocol.javascript()
    assert f"PROTOCOL_VERSION = {protocol.PROTOCOL_VERSION};" in source
    requests = json.loads(re.search(r"REQUESTS = Object.freeze\((\{.*?\})\)", source, re.S).group(1).replace(",\n}", "\n}"))
    assert requests["edit"] == ["conversation", "settings", "backend", "tools", "message_id", "text"]
    assert set(requests) == set(protocol.REQUESTS) and "end" in source
