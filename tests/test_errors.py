"""The one code → class table (``errors.error_for``): every code the code base raises maps back
to the class that raises it, and unknown codes fall back by prefix, then HTTP status."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from music_gen import errors as E

SRC = Path(E.__file__).parent
CLASSES = {
    name: getattr(E, name)
    for name in E.__all__
    if isinstance(getattr(E, name), type) and issubclass(getattr(E, name), E.MusicGenError)
}


def _raised_codes() -> list[tuple[str, str, str]]:
    """(class name, code, where) for every ``SomeError(..., code="X")`` in the sources."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name not in CLASSES:
                continue
            for keyword in node.keywords:
                if keyword.arg == "code" and isinstance(keyword.value, ast.Constant):
                    where = f"{path.relative_to(SRC)}:{node.lineno}"
                    found.append((name, keyword.value.value, where))
    return found


def test_every_code_raised_in_the_code_base_maps_back_to_its_class():
    raised = _raised_codes()
    assert len(raised) > 100  # the scan sees the code base (not an empty walk)
    wrong = [
        f"{where}: {code} raised as {name}, mapped to {E.error_class(code).__name__}"
        for name, code, where in raised
        if E.error_class(code) is not CLASSES[name]
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("cls", sorted(CLASSES.values(), key=lambda c: c.__name__))
def test_each_class_default_code_and_status_map_back(cls):
    error = E.error_for(cls.default_code, "m", status=cls.http_status, details={"a": 1})
    assert type(error) is cls
    assert (error.code, error.message, error.details) == (cls.default_code, "m", {"a": 1})


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("INVALID_LINK", 404, E.NotFound),  # a declared code beats the INVALID_ prefix
        ("INVALID_SOMETHING_NEW", None, E.InvalidInput),  # prefix
        ("INVALID_SOMETHING_NEW", 404, E.InvalidInput),  # the code beats the status
        ("SOMETHING_NEW", 404, E.NotFound),  # an unknown code: its status
        ("SOMETHING_NEW", 403, E.AuthenticationFailed),
        ("SOMETHING_NEW", 429, E.RateLimited),
        ("SOMETHING_NEW", 503, E.ServiceUnavailable),
        ("SOMETHING_NEW", 418, E.ServiceError),  # any other 4xx
        ("SOMETHING_NEW", 500, E.MusicGenError),
        ("SOMETHING_NEW", None, E.MusicGenError),
        ("CANCELLED", None, E.GenerationFailed),  # as the library raises it in-process
        ("OUT_OF_MEMORY", 500, E.GenerationFailed),
        ("DATABASE_UNAVAILABLE", 503, E.ServiceUnavailable),
        ("CONNECTION_FAILED", None, E.TransportError),
        ("TIMEOUT", None, E.Timeout),
    ],
)
def test_the_most_specific_class_wins(code, status, expected):
    assert E.error_class(code, status) is expected


def test_an_unknown_code_takes_the_default_given():
    assert E.error_class("WHATEVER", default=E.GenerationFailed) is E.GenerationFailed
    assert E.error_class("INVALID_X", default=E.GenerationFailed) is E.InvalidInput


def test_transport_errors_are_service_unavailable_and_timeouts_builtin_timeouts():
    timeout = E.error_for("TIMEOUT", "slow", details={"phase": "read"})
    assert isinstance(timeout, E.Timeout | E.TransportError | E.ServiceUnavailable)
    assert isinstance(timeout, TimeoutError)  # ``except TimeoutError`` keeps working
    assert str(timeout) == "TIMEOUT: slow" and timeout.details == {"phase": "read"}
    assert not isinstance(E.error_for("CONNECTION_FAILED", "x"), TimeoutError)
