"""What PostgreSQL cannot store: the NUL check reads encoded JSON as a decoder would
(backslash runs of every length)."""

from __future__ import annotations

import json

import pytest

from audit import storable


@pytest.mark.parametrize("backslashes", range(6))
@pytest.mark.parametrize("nul", [False, True])
def test_a_nul_is_found_and_replaced_after_any_run_of_backslashes(
    backslashes: int, nul: bool
) -> None:
    value = "a" + "\\" * backslashes + ("\x00" if nul else "u0000")
    text = json.dumps({value: [value, {"k": value}]})
    assert storable.has_nul(text) is nul
    replaced = json.loads(storable.replace_nul(text))
    expected = value.replace("\x00", "\ufffd")
    assert replaced == {expected: [expected, {"k": expected}]}


def test_adjacent_nul_characters_are_each_replaced() -> None:
    text = json.dumps(["\x00\x00", "\\\x00\\\\u0000\x00"])
    assert storable.has_nul(text)
    assert json.loads(storable.replace_nul(text)) == ["\ufffd\ufffd", "\\\ufffd\\\\u0000\ufffd"]


def test_text_without_nul_is_returned_unchanged() -> None:
    text = json.dumps({"path": "C:\\u0000", "n": 1})
    assert not storable.has_nul(text)
    assert storable.replace_nul(text) is text
