"""The oiofs-admin frame: parser, output formats."""

import json

from oiofs.cli.admin import main
from oiofs.cli.admin.output import emit


def test_no_group_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "oiofs-admin" in capsys.readouterr().out


def test_table_output_aligns_columns(capsys):
    emit([{"id": "a", "score": 10}, {"id": "long-name", "score": 0}], "table")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["id", "score"]
    assert lines[2].split() == ["long-name", "0"]
    assert lines[1].index("10") == lines[0].index("score")


def test_json_output_is_the_document(capsys):
    emit({"b": [1, 2]}, "json")
    assert json.loads(capsys.readouterr().out) == {"b": [1, 2]}
