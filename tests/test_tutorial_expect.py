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


def test_needs_runs_the_cell_where_the_module_imports():
    namespace = {}
    assert tutorial.needs("json", "import json\nx = json.dumps(1)", namespace) is True
    assert namespace["x"] == "1"


def test_needs_skips_the_cell_where_the_module_is_missing():
    namespace = {}
    cell = "x = 1"
    assert tutorial.needs("a_module_that_is_not_installed", cell, namespace) is False
    assert "x" not in namespace


def test_an_error_in_a_needed_cell_propagates():
    with pytest.raises(ZeroDivisionError):
        tutorial.needs("json", "1 / 0", {})


def test_the_extension_registers_the_needs_cell_magic():
    class Shell:
        user_ns: dict = {}
        registered: dict = {}

        def register_magic_function(self, fn, magic_kind, magic_name):
            self.registered[magic_kind, magic_name] = fn

    shell = Shell()
    tutorial.load_ipython_extension(shell)
    shell.registered["cell", "needs"]("json ", "y = 2")
    assert shell.user_ns["y"] == 2
