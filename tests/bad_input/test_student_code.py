"""A student's step is bad input too: `minimsam exercise check` on steps that hang, return
NaN, write into the gradients they were given, or raise inside NumPy.

Each row is a student file (the body of ``sgd_momentum_step``), the extra command-line
arguments, and fragments the report must contain; the grader must answer (never hang)
and say FAIL, or PASS with a note where the arithmetic is right.
"""

from __future__ import annotations

import textwrap

import pytest

from minimsam.cli import main

SIGNATURE = (
    "import numpy as np\n\n\ndef sgd_momentum_step(w, v, grad_fn, lr, momentum, weight_decay):\n"
)
CORRECT = """
g = grad_fn(w)
v_next = {k: momentum * v[k] + g[k] + weight_decay * w[k] for k in w}
w_next = {k: w[k] - lr * v_next[k] for k in w}
"""

ROWS = [
    # (id, body, extra argv, exit status, fragments of the report)
    (
        "never returns",
        "while True:\n    pass\n",
        ["--time-limit", "0.3"],
        1,
        ["FAIL", "did not return within 0.3 s on case sgd-"],
    ),
    (
        "returns NaN",
        CORRECT + "w_next = {k: x * np.nan for k, x in w_next.items()}\nreturn w_next, v_next\n",
        [],
        1,
        ["FAIL", "w_next holds NaN or inf", "first appeared in case sgd-", "step 0"],
    ),
    (
        "writes into its gradients",
        "g = grad_fn(w)\nfor k in g:\n    g[k] += weight_decay * w[k]\n"
        "v_next = {k: momentum * v[k] + g[k] for k in w}\n"
        "return {k: w[k] - lr * v_next[k] for k in w}, v_next\n",
        [],
        0,
        ["PASS", "wrote into grads["],
    ),
    (
        "raises inside NumPy",
        "np.linalg.cholesky(-np.eye(2))\nreturn w, v\n",
        [],
        1,
        ["FAIL", "LinAlgError", "student.py:", "in sgd_momentum_step"],
    ),
]


@pytest.mark.parametrize(("body", "argv", "status", "fragments"),
                         [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])  # fmt: skip
def test_a_students_bad_step_gets_a_clear_report(tmp_path, capsys, body, argv, status, fragments):
    path = tmp_path / "student.py"
    path.write_text(SIGNATURE + textwrap.indent(body, "    "))
    assert main(["exercise", "check", "sgd-momentum", str(path), *argv]) == status
    report = capsys.readouterr().out
    for fragment in fragments:
        assert fragment in report, report
