"""Bad inputs to the sharpness tools (issue 25): one line each, before any linear algebra."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import minimsam as ms
from minimsam import sharpness

from ._library_table import Row, check, params


def arr(values):
    return ms.asarray(np.asarray(values, dtype=np.float64))


def cubic(p):
    """sum(w**3) + sum(b**2): Hessian diag(6 w, 2), finite wherever w is."""
    return (p["w"] * p["w"] * p["w"]).sum() + (p["b"] * p["b"]).sum()


def infinite_loss(p):
    """A loss whose Hessian-vector products are NaN at finite weights (inf * 0)."""
    return cubic(p) * math.inf


def point(w=(1.0, 2.0, 3.0)):
    return {"b": arr([0.5]), "w": arr(list(w))}


def top(loss_fn, p, method, k=2):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy RuntimeWarning before the error
        return sharpness.hessian_top_eigenvalues(loss_fn, p, k=k, method=method)


SHARPNESS_ROWS = [
    row
    for method in ("lanczos", "power")
    for row in (
        Row(f"{method}: NaN weight", lambda m=method: top(cubic, point((1.0, math.nan, 3.0)), m),
            FloatingPointError, "params['w'] is not finite: the Hessian is only defined at "
            "finite weights"),
        Row(f"{method}: inf weight", lambda m=method: top(cubic, point((math.inf, 2.0, 3.0)), m),
            FloatingPointError, "params['w'] is not finite"),
        Row(f"{method}: finite weights, non-finite loss", lambda m=method: top(
            infinite_loss, point(), m), FloatingPointError,
            "the Hessian-vector product at these weights is not finite"),
        Row(f"{method}: finite weights, right values", lambda m=method: top(cubic, point(), m),
            expect=lambda v: np.testing.assert_allclose(v, [18.0, 12.0], rtol=1e-6)),
    )
] + [
    Row("hessian_dense: NaN weight", lambda: sharpness.hessian_dense(
        cubic, point((math.nan, 2.0, 3.0))), FloatingPointError, "params['w'] is not finite"),
]  # fmt: skip


@pytest.mark.parametrize("row", params(SHARPNESS_ROWS))
def test_sharpness_input(backend, row):
    check(row)
