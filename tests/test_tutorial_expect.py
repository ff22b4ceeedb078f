"""``tutorial.expect``: a claim that fails prints a note for a reader, fails under the tests."""

import pytest

from minimsam import tutorial


def test_a_claim_that_holds_prints_nothing(capsys, monkeypatch):
    monkeypatch.delenv(tutorial.STRICT_CLAIMS_VARIABLE, raising=False)
    assert tutorial.expect(True, "MSAM beats SGD") is None  # a cell ending with it shows nothing
    assert capsys.readouterr().out == ""


def test_a_claim_that_fails_prints_what_differs_and_why(capsys, monkeypatch):
    monkeypatch.delenv(tutorial.STRICT_CLAIMS_VARIABLE, raising=False)
    tutorial.expect(False, "MSAM beats SGD", "one seed is noisy")
    out = capsys.readouterr().out
    assert "MSAM beats SGD" in out and "one seed is noisy" in out


def test_a_claim_that_fails_under_the_tests_raises(monkeypatch):
    monkeypatch.setenv(tutorial.STRICT_CLAIMS_VARIABLE, "1")
    with pytest.raises(AssertionError, match="MSAM beats SGD"):
        tutorial.expect(False, "MSAM beats SGD")
