"""The crosscheck command line: export, torch, exit codes, registration as a sub-command."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from minimsam.crosscheck import cli


def test_export_writes_the_requested_cases(tmp_path, capsys):
    assert cli.main(["export", "--out", str(tmp_path), "--optimizer", "sam", "nag"]) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert {c["optimizer"] for c in manifest["cases"]} == {"sam", "nag"}
    assert f"wrote {len(manifest['cases'])} cases" in capsys.readouterr().out


def test_without_a_command_it_prints_help_and_returns_2(capsys):
    assert cli.main([]) == 2
    assert "export" in capsys.readouterr().out


def test_add_subparser_registers_crosscheck_on_a_parent_command(tmp_path):
    parser = argparse.ArgumentParser(prog="minimsam")
    cli.add_subparser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["crosscheck", "export", "--out", str(tmp_path), "--optimizer", "sgd"])
    assert args.backend == "numpy"  # the main command sets the backend before dispatching
    assert args.func(args) == 0
    assert (tmp_path / "manifest.json").is_file()


def test_python_dash_m_runs_the_command(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "minimsam.crosscheck",
            "export",
            "--out",
            str(tmp_path),
            "--optimizer",
            "sgd",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "wrote" in out.stdout and (tmp_path / "manifest.json").is_file()


def test_torch_command_reports_and_sets_the_exit_status(cases, golden_dir, tmp_path, capsys):
    pytest.importorskip("torch", minversion="2.1")
    n = sum(c.optimizer == "msam" for c in cases)  # the batch-norm case included
    report = tmp_path / "report.json"
    argv = [
        "torch",
        "--cases",
        str(golden_dir),
        "--optimizer",
        "msam",
        "--impl",
        "minimsam.torch:MSAM",
        "--json",
        str(report),
    ]
    assert cli.main(argv) == 0
    assert f"{n} of {n} cases pass." in capsys.readouterr().out
    assert json.loads(report.read_text())["passed"] is True
    argv = [
        "torch",
        "--cases",
        str(golden_dir),
        "--optimizer",
        "sgd",
        "--impl",
        "tests.crosscheck.torch_optimizers:StatelessCheckpointSGD",
    ]
    assert cli.main(argv) == 1
    assert "diagnosis: state_not_saved" in capsys.readouterr().out


def test_torch_command_exports_to_a_temporary_folder_by_default(capsys):
    pytest.importorskip("torch", minversion="2.1")
    argv = [
        "torch",
        "--optimizer",
        "nag",
        "--impl",
        "tests.crosscheck.torch_optimizers:LookaheadNAG",
        "--case",
        "nag-surface-zero-grad",
    ]
    assert cli.main(argv) == 0
    assert "1 of 1 cases pass." in capsys.readouterr().out


def test_errors_are_reported_with_exit_status_1(tmp_path, capsys):
    argv = ["torch", "--cases", str(tmp_path), "--optimizer", "sgd", "--impl", "torch.optim:SGD"]
    assert cli.main(argv) == 1
    assert "crosscheck export" in capsys.readouterr().err  # no manifest in an empty folder
    argv = [
        "torch",
        "--optimizer",
        "sgd",
        "--impl",
        "no_such_module_xyz:SGD",
        "--case",
        "sgd-mlp-plain",
    ]
    assert cli.main(argv) == 1
    assert "no_such_module_xyz" in capsys.readouterr().err
