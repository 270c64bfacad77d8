"""site.toml: a deployed copy's own title, prompts and defaults, checked with the line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from pagellm.errors import InputError
from pagellm.site_config import DEFAULTS, parse_site_config

ROOT = Path(__file__).resolve().parents[2]


def test_the_repository_site_toml_is_valid_and_complete():
    config = parse_site_config((ROOT / "site.toml").read_text(encoding="utf-8"))
    assert set(DEFAULTS) <= set(config) and config["starter_prompts"]
    assert config["presets"]["local-server"]["base_url"] == "http://127.0.0.1:8080/v1"


@pytest.mark.parametrize("text, words", [
    ('title = "x"\ndevice = "gpu"\n', "line 2, field 'device': expected one of auto, webgpu, wasm"),
    ('api_key = "sk-123"\n', "line 1, field 'api_key': a deployed site must not carry secrets"),
    ('colour = "red"\n', "line 1, field 'colour': unknown field"),
    ('starter_prompts = ["ok", ""]\n', "field 'starter_prompts': expected a list of non-empty texts"),
    ('[presets.kids]\ntoken = "x"\n', "line 2, field 'presets.kids.token'"),
    ('[presets."Bad Name"]\ntitle = "x"\n', "preset name 'Bad Name'"),
    ('title = "unclosed\n', "not valid TOML"),
])
def test_a_malformed_file_names_the_line_and_field(text, words):
    with pytest.raises(InputError, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse_site_config(text)
