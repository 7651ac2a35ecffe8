"""`imgpipe inspect` and `imgpipe render` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from imgpipe.cli import EXIT_REJECTED, EXIT_USAGE, main
from tests.builders import colour_card, encode, oriented


def test_inspect_prints_facts_and_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a JPEG on disk stored with orientation 6
    path = tmp_path / "card.jpg"
    path.write_bytes(oriented(colour_card(400, 300), 6))
    # When inspected
    code = main(["inspect", str(path)])
    facts = json.loads(capsys.readouterr().out)
    # Then the JSON has the upright facts
    assert code == 0
    assert facts["status"] == "READY" and facts["format"] == "jpeg"
    assert (facts["width"], facts["height"], facts["orientation"]) == (400, 300, 6)


def test_inspect_rejection_exits_two_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a PNG named .jpg
    path = tmp_path / "liar.jpg"
    path.write_bytes(encode(colour_card(32, 32), "PNG"))
    # When inspected / Then exit 2 and the reason as JSON
    assert main(["inspect", str(path)]) == EXIT_REJECTED
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["status"] == "REJECTED" and verdict["reason"] == "type-mismatch" and verdict["message"]


def test_render_writes_the_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source, target = tmp_path / "card.png", tmp_path / "out.webp"
    source.write_bytes(encode(colour_card(400, 300), "PNG"))
    assert main(["render", str(source), "w=200&fm=webp", "-o", str(target)]) == 0
    summary = json.loads(capsys.readouterr().out)
    with Image.open(target) as image:
        assert image.format == "WEBP" and image.size == (200, 150)
    assert summary["width"] == 200 and summary["query"] == "fm=webp&w=200"


def test_render_bad_parameter_names_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "card.png"
    source.write_bytes(encode(colour_card(40, 30), "PNG"))
    assert main(["render", str(source), "w=-5"]) == EXIT_USAGE
    error = json.loads(capsys.readouterr().err)
    assert error["param"] == "w"
