"""Describe a vector by the numbers: a short combination of named vectors with named
coefficients, and how two such combinations differ, in words.

A value ``y`` is written as ``sum c_i x_i`` over at most three of a step's named vectors
(``w_t``, ``v_t``, ``g(w~_t)``, ...), each coefficient recognised as one of the step's
named scalars (``lr``, ``mu``, ``1 - mu``, ``rho/||v_t||``, ...) or a product of two.
Comparing the combination of an implementation's value with the equation's, term by
term, says what differs: a flipped sign, a factor, a missing or extra term, one vector
standing for another. :mod:`minimsam.crosscheck.localise` uses it.
"""

from __future__ import annotations

import itertools

import numpy as np

__all__ = [
    "Coef",
    "Shift",
    "all_names",
    "basis",
    "combination",
    "compare",
    "constant_ratio",
    "input_scaled",
    "name_scalar",
    "show",
]

FIT_RTOL = 1e-8  # a combination explains a value when its residual is this small
PRECISION = 1e-6  # relative differences up to this, unexplained by any term, are rounding
SCALAR_RTOL = 1e-6  # a coefficient is a named scalar when this close


def name_scalar(c: float, scalars: dict[str, float]) -> str | None:
    """``"lr"``, ``"-(1 - mu)"``, ``"lr rho"``... for a coefficient, or None."""
    for sign, prefix in ((1.0, ""), (-1.0, "-")):
        if abs(c - sign) <= SCALAR_RTOL:
            return prefix + "1"
        named = [(n, v) for n, v in scalars.items() if v != 0 and np.isfinite(v)]
        for n, v in named:
            if abs(sign * c - v) <= SCALAR_RTOL * abs(v):
                return prefix + n
        for (n1, v1), (n2, v2) in itertools.combinations(named, 2):
            if abs(sign * c - v1 * v2) <= SCALAR_RTOL * abs(v1 * v2):
                return f"{prefix}{n1} {n2}"
    return None


def all_names(c: float, scalars: dict[str, float]) -> str:
    """Every single scalar name of ``c`` (``"lr = (1 - mu) here"`` when two are equal)."""
    names = [n for n, v in scalars.items() if v and abs(c - v) <= SCALAR_RTOL * abs(v)]
    if len(names) > 1:
        return f"{names[0]} (= {' = '.join(names[1:])} here)"
    return name_scalar(c, scalars) or f"{c:.6g}"


def basis(vectors: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
    """The finite nonzero vectors, less those parallel to one before them (the first wins)."""
    kept: list[tuple[str, np.ndarray]] = []
    for name, x in vectors.items():
        if not np.all(np.isfinite(x)) or np.linalg.norm(x) == 0:
            continue
        if any(constant_ratio(x, y) is not None for _, y in kept):
            continue
        kept.append((name, x))
    return kept


def combination(y, basis, scalars, max_terms: int = 3):
    """``{vector name: coefficient name}`` with ``y = sum c_i x_i``: the fewest terms, then
    the fewest products among the coefficient names; every coefficient a named scalar.
    None if there is no such combination."""
    if not np.all(np.isfinite(y)):
        return None
    if np.linalg.norm(y) == 0:
        return {}
    for size in range(1, max_terms + 1):
        found = []
        for subset in itertools.combinations(basis, size):
            stack = np.stack([x for _, x in subset], axis=1)
            coef, _, rank, _ = np.linalg.lstsq(stack, y, rcond=None)
            if rank < size or np.linalg.norm(stack @ coef - y) > FIT_RTOL * np.linalg.norm(y):
                continue
            names = [name_scalar(float(c), scalars) for c in coef]
            if all(names):
                found.append({n: Coef(c, v) for (n, _), c, v in zip(subset, names, coef)})
        if found:
            return min(found, key=lambda combo: sum(" " in c.strip("-(") for c in combo.values()))
    return None


class Coef(str):
    """A coefficient's name that keeps its value."""

    def __new__(cls, name: str, value: float):
        out = super().__new__(cls, name)
        out.value = float(value)
        return out


def show(combo: dict[str, str]) -> str:
    if not combo:
        return "0"
    parts = []
    for vector, coef in combo.items():
        sign, size = ("-", coef[1:]) if coef.startswith("-") else ("+", coef)
        shown = f"({vector})" if " " in vector and size != "1" else vector
        term = shown if size == "1" else f"{size} {shown}"
        parts.append((sign, term))
    text = ("-" if parts[0][0] == "-" else "") + parts[0][1]
    return text + "".join(f" {s} {term}" for s, term in parts[1:])


def compare(got: dict[str, str], want: dict[str, str], scalars: dict[str, float]) -> str:
    """How ``got`` differs from ``want``, term by term, in words."""
    missing = {k: v for k, v in want.items() if k not in got}
    extra = {k: v for k, v in got.items() if k not in want}
    changed = [k for k in want if k in got and got[k] != want[k]]
    notes = []
    for k in changed:
        if got[k].lstrip("-") == want[k].lstrip("-"):
            notes.append(f"the sign of the {k} term is flipped")
        else:
            notes.append(f"{k} is multiplied by {got[k]} where the equation has {want[k]}"
                         + norm_change(got[k], want[k]))  # fmt: skip
    if not got:
        return ""
    if set(got) == set(want):
        ratios = [got[k].value / want[k].value for k in want]
        if np.allclose(ratios, ratios[0], rtol=SCALAR_RTOL) and abs(ratios[0] - 1) > SCALAR_RTOL:
            which = "every term" if len(got) > 1 else "the whole value"
            return f"{which} is multiplied by {all_names(ratios[0], scalars)}"
    if len(missing) == 1 and len(extra) == 1:
        (m, cm), (e, ce) = next(iter(missing.items())), next(iter(extra.items()))
        if cm == ce:
            decay = " (the weight decay is taken at another point)" if cm == "lam" else ""
            return "; ".join([f"{e} stands where the equation has {m}{decay}", *notes])
    notes += [f"the term {show({k: v})} is missing{_DECAY.get(v, '')}" for k, v in missing.items()]
    notes += [f"an extra term {show({k: v})}" for k, v in extra.items()]
    return "; ".join(notes)


_DECAY = {"lam": " (the weight decay)"}


def norm_change(got: str, want: str) -> str:
    """`` (not normalised)`` and the like, read from the two coefficients' names."""
    g, w = got.lstrip("-"), want.lstrip("-")
    if "/||" in w and "/||" not in g:
        return " (the division by the norm is missing)"
    if "||^2" in g and "||^2" not in w:
        return " (divided by the squared norm)"
    return ""


def constant_ratio(got, want) -> float | None:
    if np.linalg.norm(want) == 0:
        return None
    c = float(got @ want) / float(want @ want)
    return c if np.linalg.norm(got - c * want) <= FIT_RTOL * np.linalg.norm(got) else None


def input_scaled(difference, basis, want_combo, scalars: dict[str, float]) -> str:
    """``got`` is the equation's value with one input's term times a factor no scalar of the
    step names (a gradient clipped or normalised): that input and the factor, in words."""
    for name, x in basis:
        ratio = constant_ratio(difference, x) if name in want_combo else None
        if ratio is None:
            continue
        coef = want_combo[name]
        factor = 1 + ratio / coef.value
        if coef.startswith("(1 - "):  # a decay (1 - x) with another x
            x, want = 1 - factor * coef.value, 1 - coef.value
            named = name_scalar(x / want, scalars)
            return (f"{name} is multiplied by 1 - {x:.3g} where the equation has {coef} = "
                    f"1 - {want:.3g}: {coef[5:-1]} is multiplied by {x / want:.3g}"
                    f"{f' (= {named})' if named else ''}")  # fmt: skip
        unit = abs(factor * np.linalg.norm(x) - 1) <= 1e-5
        named = f"1/||{name}||" if unit else name_scalar(factor, scalars)
        return (
            f"yours is the equation's value with {name} multiplied by {factor:.3g}"
            f"{f' (= {named})' if named else ''}, a factor the equation does not have"
            + (f": {name} is normalised (or clipped to norm 1)" if unit else "")
        )
    return ""


class Shift:
    """A point's shift from ``w_t`` beside the equation's, characterised once: ``words``
    (empty when nothing below fits) and ``elsewhere`` (rho long, as the equation's, but
    along another direction, not -1 times it). In the order tried: every entry a positive
    multiple of the equation's shift by one factor (the normalisation is wrong); a named
    mix of two vectors with an unnamed overall scale; entry-wise positive multiples per
    tensor or unevenly; normalised tensor by tensor; rho long along another direction."""

    def __init__(self, got, want, w, scalars: dict[str, float], split, basis):
        self.rho, self.scalars, self.split = scalars.get("rho"), scalars, split
        self.basis = basis
        self.mine, self.theirs, self.words, self.elsewhere = got - w, want - w, "", False
        if not self.rho or np.linalg.norm(self.mine) == 0:
            return
        self.length = np.linalg.norm(self.mine) / self.rho
        self.elsewhere = (abs(self.length - 1) <= 1e-6
                          and constant_ratio(self.mine, self.theirs) is None)  # fmt: skip
        rescaled = self._rescaled()
        if "(by one factor)" not in rescaled:
            rescaled = self._mix() or rescaled
        self.words = rescaled or ("your shift from w_t has length rho, as the equation's, but "
                                  "another direction" if self.elsewhere else "")  # fmt: skip

    def _mix(self) -> str:
        """``"your shift from w_t is along g(w_t) + lam w_t, of length 1 rho; ..."``."""
        norm = np.linalg.norm(self.mine)
        for (na, xa), (nb, xb) in itertools.permutations(self.basis, 2):
            stack = np.stack([xa, xb], axis=1)
            coef, _, rank, _ = np.linalg.lstsq(stack, self.mine, rcond=None)
            ratio = name_scalar(float(coef[1] / coef[0]), self.scalars)
            if rank < 2 or np.linalg.norm(stack @ coef - self.mine) > FIT_RTOL * norm or not ratio:
                continue
            mix = show({na: Coef("1", 1.0), nb: Coef(ratio, coef[1] / coef[0])})
            theirs = combination(self.theirs, self.basis, self.scalars, max_terms=1)
            return (f"your shift from w_t is along {'-' if coef[0] < 0 else ''}({mix}), of length "
                    f"{self.length:.3g} rho; the equation's shift is along "
                    f"{show(theirs) if theirs else 'another direction'}")  # fmt: skip
        return ""

    def _rescaled(self) -> str:
        """Entry by entry a positive multiple of the equation's shift, of another length:
        the direction is right, the normalisation not (a length of rho with uneven
        multiples is another vector normalised: not this)."""
        mine, theirs, rho, split = self.mine, self.theirs, self.rho, self.split
        if not (on := np.abs(theirs) > 1e-12 * np.abs(theirs).max()).any():
            return ""
        factors = np.where(on, mine / np.where(on, theirs, 1), np.nan)
        if np.abs(mine[~on]).max(initial=0) > 1e-12 * np.abs(mine).max() or factors[on].min() <= 0:
            return ""
        one = lambda f: bool(np.allclose(f[~np.isnan(f)], np.nanmax(f), rtol=SCALAR_RTOL))  # noqa: E731
        tensors = [(x, f) for x, f in zip(np.split(mine, split), np.split(factors, split))
                   if not np.isnan(f).all()]  # fmt: skip
        each, off = all(one(f) for _, f in tensors), self.length - 1
        if not one(factors) and each and all(abs(np.linalg.norm(x) - rho) <= PRECISION * rho
                                             for x, _ in tensors):  # fmt: skip
            return ("the perturbation is normalised tensor by tensor (each has length rho), not "
                    "by the global norm over all parameters")  # fmt: skip
        if not one(factors) and abs(off) <= PRECISION:  # length rho: another vector normalised
            return ""
        how = (
            "by one factor" if one(factors) else "by one factor per tensor" if each else "unevenly"
        )
        left = (1.0, self.scalars.get("rho_{t-1}", rho) / rho)  # the last perturbation, kept
        if one(factors) and any(abs(off - x) <= 1e-6 for x in left):
            return ("your shift from w_t points along the equation's, of length rho_t plus the "
                    "last step's rho: the perturbation placed before is still there")  # fmt: skip
        length = f"{off + 1:.3g}" if abs(off) > 1e-3 else f"(1 {'-+'[int(off > 0)]} {abs(off):.1e})"
        why = ("the norm is off by a rounding: computed in single precision (float32), or with "
               "EPS elsewhere (inside the square root?)" if abs(off) <= PRECISION else "the "
               "normalisation is wrong (another norm, a norm per tensor or along an axis, or EPS "
               "elsewhere)")  # fmt: skip
        return (f"your shift from w_t points along the equation's, every entry a positive "
                f"multiple of it ({how}), but its length is {length} rho: {why}")  # fmt: skip
