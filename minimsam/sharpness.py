"""Sharpness and curvature: the loss along directions, SAM- and m-sharpness, Hessian spectra.

These are the measurements of the Momentum-SAM paper (Becker et al., arXiv 2401.12033,
Sec. 4.3 and Appendix A.4, A.5, A.11). Notation: ``w``
the parameters (a dict of arrays, treated as one flat vector of ``n`` entries), ``L``
a loss ``loss_fn(w) -> scalar`` (usually the mean loss on a fixed batch, bound in a
closure), ``g = grad L(w)``, ``H = Hess L(w)``, ``||.||`` the global L2 norm over all
parameters and ``EPS = 1e-12``.

=============================  ========================================================
``loss_along``                 ``L(w + t d)`` for each ``t`` (1-D loss curves, Fig. 4)
``sharpness_along``            ``S_d(t) = L(w + t d) - L(w)``
``loss_surface_2d``            ``L(w + a d1 + b d2)`` on a grid (Li et al. 2018, Fig. A.13)
``sam_sharpness``              ``L(w + rho g/||g||) - L(w)`` (Foret et al. 2021)
``m_sharpness``                the mean SAM sharpness over disjoint sub-batches of size m
``curvature``                  ``u^T H u`` for the unit ``u = d/||d||`` (Fig. A.8)
``hessian_top_eigenvalues``    the ``k`` largest eigenvalues of ``H`` (Lanczos or power)
``hessian_dense``              the full ``n x n`` Hessian, for small problems and tests
``cosine``                     ``<a, b> / (||a|| ||b||)`` over trees (Fig. 2C)
``CurvatureProbe``             a training-loop callback recording ``u^T H u`` every N steps
=============================  ========================================================

Directions are params-like dicts: ``gradient_direction``, ``momentum_direction``,
``random_direction`` (filter-normalised) and ``normalize``.

Device and host. All array work happens on the active backend; Hessian-vector products
are exact (double backward, :func:`minimsam.hvp`), not finite differences. Results come
back to the host once, at the end, as Python floats or NumPy arrays. Two deliberate
exceptions: random directions are drawn on the host with NumPy and uploaded, so that a
seed gives the same direction on every backend (as model initialisation does); and the
eigenvalue solvers read one or two scalars per iteration to decide when to stop, a cost
that is small next to the Hessian-vector product each iteration computes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from minimsam.autodiff import Tensor, hvp, no_grad, value_and_grad
from minimsam.autodiff import grad as grad_of
from minimsam.backend import asarray, get_backend, to_numpy
from minimsam.optim.base import EPS, add, axpy, check_like, global_norm, scale

__all__ = [
    "CurvatureProbe",
    "cosine",
    "curvature",
    "gradient_direction",
    "hessian_dense",
    "hessian_top_eigenvalues",
    "loss_along",
    "loss_surface_2d",
    "m_sharpness",
    "momentum_direction",
    "normalize",
    "random_direction",
    "sam_sharpness",
    "sharpness_along",
]

Params = dict[str, Any]
LossFn = Callable[[Params], Any]


# ------------------------------------------------------------------------------ tree helpers


def _dot(a: Mapping[str, Any], b: Mapping[str, Any]) -> Any:
    """``<a, b> = sum_k sum(a[k] * b[k])``, a 0-d device array."""
    xp = get_backend().xp
    return sum(xp.sum(a[k] * b[k]) for k in a)


def _loss(loss_fn: LossFn, params: Params) -> Any:
    """``loss_fn(params)`` as a 0-d device array, without recording a graph."""
    with no_grad():
        value = loss_fn(params)
    if isinstance(value, Tensor):
        value = value.data
    xp = get_backend().xp
    return xp.reshape(xp.asarray(value), ())


def _to_floats(values: list[Any]) -> np.ndarray:
    """Device scalars -> one host float64 array, in a single transfer."""
    xp = get_backend().xp
    return np.asarray(to_numpy(xp.stack(values)), dtype=np.float64)


def _check_finite_params(params: Params) -> None:
    """Refuse weights holding NaN or inf, naming the first (one host sync)."""
    xp = get_backend().xp
    flags = _to_floats([xp.all(xp.isfinite(x)) for x in params.values()])
    for name, ok in zip(params, flags):
        if not ok:
            raise FloatingPointError(
                f"params[{name!r}] is not finite: the Hessian is only defined at finite "
                f"weights (evaluate at the weights of an epoch before the run diverged)"
            )


def _check_finite_curvature(values: np.ndarray) -> None:
    """Refuse a non-finite Hessian-vector product (finite weights, non-finite loss)."""
    if not np.all(np.isfinite(values)):
        raise FloatingPointError(
            "the Hessian-vector product at these weights is not finite: the loss or its "
            "derivatives are not finite there (check loss_fn at params, e.g. a log of 0)"
        )


def _flatten(tree: Mapping[str, Any]) -> Any:
    """All entries of ``tree`` as one device vector: keys in order, each raveled C-style."""
    xp = get_backend().xp
    return xp.concatenate([xp.reshape(x, (-1,)) for x in tree.values()])


def _unflatten(vector: Any, like: Mapping[str, Any]) -> Params:
    """Inverse of :func:`_flatten`, with the keys and shapes of ``like``."""
    xp = get_backend().xp
    out, start = {}, 0
    for k, x in like.items():
        out[k] = xp.reshape(vector[start : start + x.size], x.shape)
        start += x.size
    return out


# -------------------------------------------------------------------------------- directions


def normalize(d: Mapping[str, Any]) -> Params:
    """``d / (||d|| + EPS)``: unit global norm (a zero direction stays zero)."""
    return scale(1.0 / (global_norm(d) + EPS), d)


def gradient_direction(loss_fn: LossFn, params: Params, unit: bool = True) -> Params:
    """The gradient ``g = grad L(w)`` of the batch loss, as ``g / (||g|| + EPS)`` if ``unit``.

    ``S_d(rho)`` along this direction at ``rho > 0`` is the SAM sharpness (Fig. 4A).
    """
    g = grad_of(loss_fn)(params)
    return normalize(g) if unit else g


def momentum_direction(momentum: Mapping[str, Any], sign: int, unit: bool = True) -> Params:
    """``sign * v`` for the momentum buffer ``v`` (``state["momentum"]``), unit-norm if ``unit``.

    ``sign=-1`` is MSAM's perturbation direction ``-v/||v||`` (an ascent direction after
    the overshooting step, paper Sec. 2.4); ``sign=+1`` is ``+v`` as plotted in
    Fig. 4B, where the optimal radius then comes out negative. A zero ``v`` (before the
    first step) gives a zero direction.
    """
    if sign not in (1, -1):
        raise ValueError(f"sign must be +1 or -1, got {sign!r}")
    v = dict(momentum)
    return scale(float(sign), normalize(v) if unit else v)


def random_direction(params: Params, seed: int, normalization: str | None = "filter") -> Params:
    """A seeded Gaussian direction ``d ~ N(0, I)``, normalised like the weights.

    ``normalization="filter"`` (Li et al. 2018, "Visualizing the Loss Landscape of Neural
    Nets"): every filter of ``d`` is rescaled to the norm of the matching filter of ``w``,
    ``d_f <- d_f * ||w_f|| / (||d_f|| + EPS)``, so that the direction respects the scale
    invariance of each unit. A filter is

    * for a linear weight of shape ``(in, out)``: one output unit, i.e. one **column**
      ``W[:, j]`` (a row of PyTorch's ``(out, in)`` layout);
    * for a convolution weight of shape ``(out, in, k, k)``: one output filter ``W[o]``.

    ``normalization="layer"`` rescales each weight tensor as a whole, ``d_k <- d_k *
    ||w_k|| / (||d_k|| + EPS)``. In both cases biases (and any other parameter with fewer
    than two dimensions) get ``d = 0``, as Li et al. do (their ``ignore="biasbn"``): a
    bias has no filter to borrow a scale from, and the surfaces they draw leave it fixed.
    ``normalization=None`` returns the raw Gaussian draw for every parameter.

    The draw is made on the host with ``numpy.random.default_rng(seed)``, one standard
    normal array per parameter in key order, and then moved to the device in the
    parameter's dtype, so a seed gives the same direction on every backend.
    """
    if normalization not in ("filter", "layer", None):
        raise ValueError(f"normalization must be 'filter', 'layer' or None, got {normalization!r}")
    rng = np.random.default_rng(seed)
    out = {}
    for k, w in params.items():
        d = asarray(rng.standard_normal(w.shape), dtype=w.dtype)
        out[k] = d if normalization is None else _rescale_like(d, w, normalization, k)
    return out


def _rescale_like(d: Any, w: Any, normalization: str, name: str) -> Any:
    """Rescale ``d`` filter-wise or layer-wise to the norms of ``w`` (biases: zero)."""
    xp = get_backend().xp
    if w.ndim < 2:
        return xp.zeros_like(w)
    if normalization == "layer":
        axes = tuple(range(w.ndim))
    elif w.ndim == 2:  # Linear (in, out): one filter per output column
        axes = (0,)
    elif w.ndim == 4:  # Conv2d (out, in, k, k): one filter per output channel
        axes = (1, 2, 3)
    else:
        raise ValueError(
            f"filter normalisation knows linear (in, out) and conv (out, in, k, k) weights; "
            f"params[{name!r}] has shape {tuple(w.shape)}"
        )
    w_norm = xp.sqrt(xp.sum(w * w, axis=axes, keepdims=True))
    d_norm = xp.sqrt(xp.sum(d * d, axis=axes, keepdims=True))
    return d * (w_norm / (d_norm + EPS))


# ------------------------------------------------------------------------ loss along lines


def loss_along(loss_fn: LossFn, params: Params, direction: Params, ts: Iterable[float]) -> Any:
    """``[L(w + t d) for t in ts]`` as a host float64 array of shape ``(len(ts),)``.

    ``d`` is used as given: normalise it first (:func:`normalize`) if ``t`` should be a
    distance. One forward pass per ``t``, no graph, one device->host transfer.
    """
    check_like(direction, params, "direction")
    values = [_loss(loss_fn, axpy(float(t), direction, params)) for t in ts]
    if not values:
        return np.zeros(0)
    return _to_floats(values)


def sharpness_along(loss_fn: LossFn, params: Params, direction: Params, ts: Iterable[float]) -> Any:
    """``S_d(t) = L(w + t d) - L(w)`` for each ``t`` (the curves of Fig. 4 and Fig. A.2)."""
    ts = [float(t) for t in ts]
    curve = loss_along(loss_fn, params, direction, [0.0, *ts])
    return curve[1:] - curve[0]


def _grid(extent: float | tuple[float, float], n: int) -> np.ndarray:
    lo, hi = (-extent, extent) if np.isscalar(extent) else extent
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
        raise ValueError(f"extent must be a number e (grid [-e, e]) or a pair lo <= hi; {extent}")
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    return np.linspace(lo, hi, int(n))


def loss_surface_2d(
    loss_fn: LossFn,
    params: Params,
    d1: Params,
    d2: Params,
    extent: float | tuple[float, float] = 1.0,
    n: int = 21,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The loss on the plane ``w + a d1 + b d2`` (Li et al. 2018; paper Fig. A.13).

    ``alphas = betas = linspace(lo, hi, n)`` with ``(lo, hi) = (-extent, extent)`` for a
    number, or ``extent`` itself for a pair. Returns host arrays ``(alphas, betas, grid)``
    with ``grid[i, j] = L(w + alphas[i] d1 + betas[j] d2)``, shape ``(n, n)``; for
    ``matplotlib.contour(alphas, betas, Z)`` pass ``Z = grid.T``. Use two filter-normalised
    random directions (:func:`random_direction` with two seeds) as the paper does.
    ``n**2`` forward passes, one device->host transfer.
    """
    check_like(d1, params, "d1")
    check_like(d2, params, "d2")
    alphas = _grid(extent, n)
    betas = alphas.copy()
    values = [
        _loss(loss_fn, axpy(float(b), d2, axpy(float(a), d1, params)))
        for a in alphas
        for b in betas
    ]
    return alphas, betas, _to_floats(values).reshape(len(alphas), len(betas))


# ------------------------------------------------------------------------------- sharpness


def _sam_sharpness(loss_fn: LossFn, params: Params, rho: float) -> Any:
    """``L(w + rho g/(||g|| + EPS)) - L(w)`` as a 0-d device array."""
    loss, g = value_and_grad(loss_fn)(params)
    e = scale(rho / (global_norm(g) + EPS), g)
    return _loss(loss_fn, add(params, e)) - get_backend().xp.reshape(loss, ())


def _check_rho(rho: Any) -> float:
    if isinstance(rho, bool) or not isinstance(rho, (int, float, np.number)):
        raise ValueError(f"rho must be a number, got {rho!r}")
    if not math.isfinite(rho):
        raise ValueError(f"rho must be finite, got {rho}")
    return float(rho)


def sam_sharpness(loss_fn: LossFn, params: Params, rho: float) -> float:
    """SAM sharpness ``S(w) = L(w + e) - L(w)`` with ``e = rho g / (||g|| + EPS)``.

    The first-order solution of ``max_{||e|| <= rho} L(w + e) - L(w)`` (Foret et al.
    2021, "Sharpness-Aware Minimization", Eq. 2-3; MSAM paper Eq. 3), with ``g`` the
    gradient of the same loss. For a quadratic ``L = 0.5 w^T A w``, ``g = A w`` and
    ``S = rho ||g|| + 0.5 rho^2 u^T A u`` with ``u = g/||g||``. Costs one gradient and
    one forward pass.
    """
    return float(to_numpy(_sam_sharpness(loss_fn, params, _check_rho(rho))))


def m_sharpness(
    loss_on_batch: Callable[..., Any],
    params: Params,
    batches: Iterable[Sequence[Any]],
    m: int,
    rho: float,
) -> float:
    """m-sharpness: the mean of the SAM sharpness over disjoint sub-batches of size ``m``.

    Each batch is a tuple of arrays sharing their first axis (e.g. ``(x, y)``); it is cut
    into consecutive sub-batches ``B_i`` of ``m`` examples, and a remainder of fewer than
    ``m`` examples is left out (it would be a sub-batch of another size). Then::

        S_m(w) = mean_i [ L_i(w + rho g_i/||g_i||) - L_i(w) ],   L_i = loss_on_batch(w, *B_i),

    with ``g_i = grad L_i(w)``: every sub-batch gets its own perturbation (Foret et al.
    2021, Sec. 4.1). Small ``m`` correlates best with generalisation there; the MSAM
    paper (Sec. 4.3) argues that momentum's perturbation acts like a large ``m``. With
    one batch and ``m`` its size this is :func:`sam_sharpness` on that batch.
    """
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
        raise ValueError(f"m must be a positive integer, got {m!r}")
    rho = _check_rho(rho)
    values = []
    for batch in batches:
        if not isinstance(batch, (tuple, list)):
            raise ValueError("each batch must be a tuple of arrays, e.g. (x, y)")
        n = len(batch[0])
        for start in range(0, n - m + 1, m):
            sub = tuple(a[start : start + m] for a in batch)
            values.append(_sam_sharpness(lambda p, sub=sub: loss_on_batch(p, *sub), params, rho))
    if not values:
        raise ValueError(f"no batch has m = {m} examples; m-sharpness needs m <= batch size")
    return float(np.mean(_to_floats(values)))


# ------------------------------------------------------------------------------ curvature


def curvature(loss_fn: LossFn, params: Params, d: Params) -> float:
    """``u^T H u`` with ``u = d/||d||``: the second derivative of ``L(w + t u)`` at ``t = 0``.

    One exact Hessian-vector product. The scale and sign of ``d`` do not matter; a zero
    ``d`` gives ``nan`` (no direction). Paper Appendix A.4, Fig. A.8.
    """
    check_like(d, params, "d")
    norm = global_norm(d)
    u = scale(1.0 / (norm + EPS), d)
    hu = hvp(loss_fn)(params, u)
    norm, quad = _to_floats([norm, _dot(u, hu)])
    return float(quad) if norm > 0 else math.nan


def cosine(a: Mapping[str, Any], b: Mapping[str, Any]) -> float:
    """``<a, b> / (||a|| ||b||)`` over all parameters; ``nan`` if either is zero.

    The experiments log ``cos(v_t, g_{t+1})``: the momentum buffer before the update
    against the next batch's gradient at the unperturbed weights (paper Fig. 2C, A.3).
    """
    check_like(b, a, "b")
    dot, na, nb = _to_floats([_dot(a, b), global_norm(a), global_norm(b)])
    return float(dot / (na * nb)) if na > 0 and nb > 0 else math.nan


def hessian_dense(loss_fn: LossFn, params: Params) -> np.ndarray:
    """The full Hessian ``H[i, j] = d^2 L / dw_i dw_j`` as a host ``(n, n)`` array.

    Built column by column, ``H[:, i] = H e_i`` by :func:`minimsam.hvp`: ``n``
    Hessian-vector products, so only for small problems (tests, toy models). The flat
    order is the key order of ``params``, each array raveled C-style.
    """
    _check_finite_params(params)
    xp = get_backend().xp
    flat = _flatten(params)
    hvp_fn, columns = hvp(loss_fn), []
    for i in range(flat.size):
        e = xp.zeros_like(flat)
        e[i] = 1.0
        columns.append(_flatten(hvp_fn(params, _unflatten(e, params))))
    return np.asarray(to_numpy(xp.stack(columns, axis=1)), dtype=np.float64)


def hessian_top_eigenvalues(
    loss_fn: LossFn,
    params: Params,
    k: int = 5,
    method: str = "lanczos",
    iters: int | None = None,
    seed: int = 0,
    tol: float = 1e-6,
) -> np.ndarray:
    """The ``k`` largest (algebraic) eigenvalues of ``H``, descending, as a host array.

    Only Hessian-vector products are used (exact, :func:`minimsam.hvp`). Paper Tab. A.1
    reports the top 5 by Lanczos.

    ``method="lanczos"``: ``iters`` (default 100, at most ``n``) steps of the Lanczos
    recurrence with full reorthogonalisation, ``beta_j q_{j+1} = (I - Q_j Q_j^T) H q_j``,
    then the top Ritz values, the eigenvalues of the tridiagonal ``T = Q^T H Q``. Stops
    early once the top-``k`` Ritz residuals ``beta_j |s_{j,i}|`` (bounds on their
    eigenvalue errors) are below ``tol * ||H||`` (estimated by the largest ``|alpha|``,
    ``beta`` seen); with ``iters = n`` it is exact up to rounding. When the Krylov space
    becomes invariant (``beta ~ 0``) it continues from a fresh orthogonal vector, so
    repeated eigenvalues are found as often as they occur.

    ``method="power"``: power iteration with deflation. A first run on ``H`` estimates the
    spectral radius ``s = max|lam|`` (as ``||H x||`` for its final unit ``x``); the
    iteration then runs on the shifted ``B = H + s I``, whose eigenvalues are ``>= 0`` and
    ordered as ``H``'s, so that it finds the largest, not the most negative ones, and
    each found pair ``(mu_i, u_i)`` is deflated, ``B <- B - mu_i u_i u_i^T``. Each
    eigenvalue takes at most ``iters`` (default 1000) products and stops once the
    residual ``||B x - mu x|| <= tol |mu|``. Slower than Lanczos; kept as the textbook
    alternative.

    The start vectors are seeded Gaussians drawn on the host (same on every backend).
    """
    n = sum(int(x.size) for x in params.values())
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise ValueError(f"k must be an integer in [1, n = {n}], got {k!r}")
    if method not in ("lanczos", "power"):
        raise ValueError(f"method must be 'lanczos' or 'power', got {method!r}")
    if iters is not None and (not isinstance(iters, (int, np.integer)) or iters < 1):
        raise ValueError(f"iters must be a positive integer, got {iters!r}")
    _check_finite_params(params)
    hvp_fn = hvp(loss_fn)

    def matvec(x: Any) -> Any:
        return _flatten(hvp_fn(params, _unflatten(x, params)))

    rng = np.random.default_rng(seed)
    dtype = _flatten(params).dtype
    with np.errstate(all="ignore"):  # every product's result is checked to be finite
        if method == "lanczos":
            steps = min(n, max(int(iters or 100), k))
            return _lanczos(matvec, n, dtype, k, steps, tol, rng)
        return _power_deflation(matvec, n, dtype, k, int(iters or 1000), tol, rng)


def _random_unit(rng: np.random.Generator, n: int, dtype: Any, basis: Any = None) -> Any:
    """A seeded random unit vector on the device, orthogonal to the rows of ``basis``."""
    xp = get_backend().xp
    x = asarray(rng.standard_normal(n), dtype=dtype)
    if basis is not None and len(basis):
        for _ in range(2):  # Gram-Schmidt twice: "twice is enough" (Parlett)
            x = x - basis.T @ (basis @ x)
    return x / xp.sqrt(xp.sum(x * x))


def _lanczos(matvec, n, dtype, k, steps, tol, rng) -> np.ndarray:
    """Lanczos with full reorthogonalisation; returns the top ``k`` Ritz values."""
    xp = get_backend().xp
    Q = xp.zeros((steps, n), dtype=dtype)
    q = _random_unit(rng, n, dtype)
    alphas: list[float] = []
    betas: list[float] = []
    size = 0.0  # running estimate of ||H||, the scale of "numerically zero"
    for j in range(steps):
        Q[j] = q
        w = matvec(q)
        alpha = xp.sum(q * w)
        for _ in range(2):  # project out span(q_0..q_j), which includes alpha q_j, beta q_{j-1}
            w = w - Q[: j + 1].T @ (Q[: j + 1] @ w)
        beta = xp.sqrt(xp.sum(w * w))
        a, b = values = _to_floats([alpha, beta])
        _check_finite_curvature(values)
        alphas.append(float(a))
        size = max(size, abs(a), b)
        if j + 1 < steps and b <= max(tol, 100 * np.finfo(dtype).eps) * size:
            # The Krylov space is invariant (to within tol): every Ritz residual is ~0, but
            # an eigenvalue outside the space (e.g. a second copy of a repeated one) would
            # be missed, so go on from a fresh orthogonal vector instead of stopping. T
            # gets a zero off-diagonal entry, which moves its eigenvalues by at most b.
            q = _random_unit(rng, n, dtype, Q[: j + 1])
            betas.append(0.0)
            continue
        theta, s = np.linalg.eigh(_tridiagonal(alphas, betas))
        top = np.argsort(theta)[::-1][:k]
        converged = j + 1 >= k and np.all(b * np.abs(s[-1, top]) <= tol * size)
        if j + 1 == steps or converged:
            return theta[top]
        q = w / beta
        betas.append(float(b))
    raise AssertionError("unreachable")


def _tridiagonal(alphas: list[float], betas: list[float]) -> np.ndarray:
    """The host matrix ``T`` with diagonal ``alphas`` and off-diagonals ``betas``."""
    off = np.asarray(betas[: len(alphas) - 1])
    return np.diag(alphas) + np.diag(off, 1) + np.diag(off, -1)


def _power_iteration(op, x, iters, tol) -> tuple[float, float, Any]:
    """Power iteration ``x <- A x / ||A x||`` from the unit ``x``.

    Returns ``(mu, ||A x||, x)`` for the last ``x``, ``mu = x^T A x`` its Rayleigh
    quotient; stops when the residual ``||A x - mu x|| <= tol |mu|``.
    """
    xp = get_backend().xp
    for i in range(iters):
        y = op(x)
        mu_dev = xp.sum(x * y)
        y_norm = xp.sqrt(xp.sum(y * y))
        residual = xp.sqrt(xp.sum((y - mu_dev * x) ** 2))
        values = _to_floats([mu_dev, y_norm, residual])
        _check_finite_curvature(values)
        mu, ny, res = (float(v) for v in values)
        if res <= tol * abs(mu) or ny == 0.0 or i + 1 == iters:
            break
        x = y / y_norm
    return mu, ny, x


def _power_deflation(matvec, n, dtype, k, iters, tol, rng) -> np.ndarray:
    """Top ``k`` eigenvalues by power iteration on ``H + s I`` with deflation."""
    xp = get_backend().xp
    lam0, shift, u0 = _power_iteration(matvec, _random_unit(rng, n, dtype), iters, tol)
    # ||H u0|| (>= |lam0|) estimates the spectral radius even when +-lam compete and the
    # Rayleigh quotient does not settle; H + shift I then has (about) no negative part.
    found: list[tuple[float, Any]] = []

    def shifted(x: Any) -> Any:
        y = matvec(x) + shift * x
        for mu, u in found:
            y = y - (mu * xp.sum(u * x)) * u
        return y

    values = []
    for i in range(k):
        if i == 0 and lam0 >= 0:
            start = u0  # the dominant eigenvector is already the top one
        else:
            basis = xp.stack([u for _, u in found]) if found else None
            start = _random_unit(rng, n, dtype, basis)
        mu, _, u = _power_iteration(shifted, start, iters, tol)
        found.append((mu, u))
        values.append(mu - shift)
    return np.sort(np.asarray(values))[::-1]


# ------------------------------------------------------------------------- training probe


class CurvatureProbe:
    """A training-loop callback recording the curvature ``u^T H u`` along unit directions.

    Call signature (what the training loop calls after each optimizer step)::

        probe(step, params, state, loss_fn) -> None

    * ``step``: the step count (an int); the probe measures when ``step % every == 0``.
    * ``params``: the point to measure at, normally the unperturbed weights
      ``opt.eval_params(params, state)``.
    * ``state``: the optimizer state; its momentum buffer is ``state["momentum"]``
      (SGD, NAG, SAM, MSAM) or ``state["m"]`` (AdamW, AdamWMSAM).
    * ``loss_fn``: ``loss_fn(params) -> scalar``, the loss on the current batch.

    Each measurement appends ``{"step": step, "<direction>": float, ...}`` to
    ``probe.records``, for the directions (any of ``"momentum"``, ``"gradient"``,
    ``"random"``): the momentum buffer, the batch gradient at ``params``, and a fresh
    Gaussian direction drawn with seed ``seed + step``. Each costs one Hessian-vector
    product (plus one gradient for ``"gradient"``). Curvature does not depend on the
    sign of the direction, so ``+v`` and MSAM's ``-v`` give the same number; a zero
    momentum (before the first step) records ``nan``. Paper Appendix A.4, Fig. A.8:
    momentum and gradient curvature exceed random curvature, every 50 steps.
    """

    DIRECTIONS = ("momentum", "gradient", "random")

    def __init__(
        self,
        every: int = 50,
        directions: Sequence[str] = DIRECTIONS,
        seed: int = 0,
    ):
        if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}")
        unknown = [d for d in directions if d not in self.DIRECTIONS]
        if unknown or not directions:
            raise ValueError(f"directions must be a non-empty subset of {self.DIRECTIONS}")
        self.every, self.directions, self.seed = int(every), tuple(directions), int(seed)
        self.records: list[dict[str, float]] = []

    def __call__(self, step: int, params: Params, state: Mapping[str, Any], loss_fn: LossFn):
        if step % self.every:
            return
        record: dict[str, float] = {"step": int(step)}
        for name in self.directions:
            if name == "momentum":
                d = _momentum_buffer(state)
            elif name == "gradient":
                d = grad_of(loss_fn)(params)
            else:
                d = random_direction(params, seed=self.seed + int(step), normalization=None)
            record[name] = curvature(loss_fn, params, d)
        self.records.append(record)

    def __repr__(self) -> str:
        return f"CurvatureProbe(every={self.every}, directions={self.directions})"


def _momentum_buffer(state: Mapping[str, Any]) -> Params:
    """The momentum buffer of an optimizer state: ``"momentum"``, or Adam's ``"m"``."""
    for key in ("momentum", "m"):
        if isinstance(state.get(key), Mapping):
            return dict(state[key])
    raise ValueError(
        "CurvatureProbe: the optimizer state has no momentum buffer ('momentum' or 'm'); "
        f"its keys are {list(state)}. Leave 'momentum' out of directions for this optimizer."
    )
