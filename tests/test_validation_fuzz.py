"""Whatever JSON a client sends, validation answers with a result or a clear error."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.fingerprint import fingerprint
from audit.validation import EventErrors, ValidEvent, validate

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
event_like = st.fixed_dictionaries(
    {},
    optional={
        "type": st.one_of(st.text(max_size=70), json_values),
        "message": st.one_of(st.text(max_size=50), json_values),
        "params": json_values,
        "level": st.one_of(st.sampled_from(["info", "error", "nope"]), json_values),
        "stackTrace": st.one_of(st.text(max_size=200), json_values),
        "entities": st.one_of(
            st.lists(
                st.fixed_dictionaries({"type": st.sampled_from(["user", "x"]), "id": json_values}),
                max_size=3,
            ),
            json_values,
        ),
        "timestamp": st.one_of(st.sampled_from(["2026-01-01T00:00:00Z", "yesterday"]), json_values),
        "id": st.one_of(st.uuids().map(str), json_values),
    },
)


@pytest.mark.django_db
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(event_like, json_values))
def test_any_json_value_is_either_valid_or_a_field_error(raw) -> None:
    try:
        event = validate(raw)
    except EventErrors as exc:
        assert exc.errors and all(
            isinstance(key, str) and messages and all(isinstance(m, str) for m in messages)
            for key, messages in exc.errors.items()
        )
    else:
        assert isinstance(event, ValidEvent)
        assert isinstance(event.params, dict)


@given(st.text(max_size=500))
def test_fingerprint_of_any_text_is_empty_or_a_sha1(text) -> None:
    digest = fingerprint(text)
    assert digest == "" or len(digest) == 40
