"""Evidence that holds on any machine and any seed.

Every number a chapter stores in its outputs must come out the same on another CPU, and every
conclusion it draws from training runs must hold for other seeds. This module is the one
mechanism the chapters use for both:

Seeds
    :func:`seed` and :func:`rng` turn a chapter's key (an int or a string) into a seed. Every key
    is hashed together with the environment variable ``BN_SEED_OFFSET`` (default 0), so shifting
    the offset gives every random source of every chapter a fresh, unrelated seed; :func:`seeds`
    gives ``n`` independent seeds for ``n`` replicates of an experiment.
Samples
    :class:`Sample` holds one quantity measured once per seed, with its mean, standard deviation,
    range and a Student-t confidence interval of the mean; :func:`over_seeds` runs an experiment
    once per seed and collects what it returns.
Claims
    :func:`claim_greater`, :func:`claim_less`, :func:`claim_within`, :func:`claim_above` and
    :func:`claim_below` assert a statement about samples: it holds when the confidence interval
    (95 % by default) lies wholly on the claimed side, so the margin is the one the seeds support.
    A claim that the seeds do not support raises :class:`ClaimError`, which names the statement
    and shows every seed's value. Comparisons need at least five seeds per setting.
Portable outputs
    :func:`glue` stores a number already rounded to the precision the prose shows (never a 17-digit
    repr, whose last digits differ between CPUs); :func:`below` turns a rounding-level quantity
    (a residual, a parity gap, a gradient-check error) into a bound that is asserted and printed
    as "below 1e-10", never as raw digits.

See chapter 6 for stacked networks, which make many seeds cheap, and the README ("Evidence that
holds on any machine") for how the chapters and CI use this module.
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

__all__ = [
    "SEED_OFFSET_VARIABLE",
    "MIN_SEEDS",
    "ClaimError",
    "Sample",
    "Claim",
    "Bound",
    "seed_offset",
    "seed",
    "seeds",
    "rng",
    "sample",
    "over_seeds",
    "claim_greater",
    "claim_less",
    "claim_within",
    "claim_above",
    "claim_below",
    "below",
    "rounded",
    "glue",
    "glue_all",
]

SEED_OFFSET_VARIABLE = "BN_SEED_OFFSET"
MIN_SEEDS = 5  # seeds per setting a comparison needs at the least


class ClaimError(AssertionError):
    """A claim in the prose that the measurements do not support."""


# --------------------------------------------------------------------------------------- seeds


def seed_offset() -> int:
    """The seed offset from the environment variable ``BN_SEED_OFFSET`` (default 0).

    Read on every call, so a kernel started with the variable set uses it everywhere.
    """
    raw = os.environ.get(SEED_OFFSET_VARIABLE, "").strip()
    if raw == "":
        return 0
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(
            f"{SEED_OFFSET_VARIABLE} must be a non-negative integer, got {raw!r}"
        ) from None
    if value < 0:
        raise ValueError(f"{SEED_OFFSET_VARIABLE} must be a non-negative integer, got {raw!r}")
    return value


def _key_words(keys) -> list[int]:
    if not keys:
        raise TypeError("seed() needs at least one key (an int or a string), got none")
    words = []
    for key in keys:
        if isinstance(key, (bool, np.bool_)):
            raise TypeError(f"a seed key must be an int or a string, got {key!r}")
        if isinstance(key, (int, np.integer)):
            if key < 0:
                raise ValueError(f"an integer seed key must be >= 0, got {key}")
            words.append(int(key))
        elif isinstance(key, str):
            words.append(zlib.crc32(key.encode("utf-8")))
        else:
            raise TypeError(
                f"a seed key must be an int or a string, got {type(key).__name__} {key!r}"
            )
    return words


def _sequence(keys) -> np.random.SeedSequence:
    words = _key_words(keys)
    return np.random.SeedSequence([seed_offset(), len(words), *words])


def seed(*keys) -> int:
    """A seed in ``[0, 2**32)`` for the given keys and the current ``BN_SEED_OFFSET``.

    ``seed(60)`` and ``seed("placement", 3)`` are deterministic: the same keys and offset give the
    same seed on every machine; any other offset gives an unrelated one. Pass the result to
    ``keras.utils.set_random_seed`` or ``np.random.default_rng`` (or use :func:`rng`).
    """
    return int(_sequence(keys).generate_state(1, dtype=np.uint32)[0])


def seeds(*keys, n: int) -> list[int]:
    """``n`` independent seeds for ``n`` replicates of one experiment (see :func:`seed`)."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer (how many seeds), got {n!r}")
    return [int(s.generate_state(1, dtype=np.uint32)[0]) for s in _sequence(keys).spawn(int(n))]


def rng(*keys) -> np.random.Generator:
    """``np.random.default_rng(seed(*keys))``."""
    return np.random.default_rng(seed(*keys))


# ------------------------------------------------------------------------------------- samples


def _t_quantile(level: float, df: int) -> float:
    """The two-sided Student-t critical value: P(|T| <= q) = level with ``df`` degrees of freedom."""
    from scipy.stats import t as student_t

    return float(student_t.ppf(0.5 + level / 2, df))


def _check_level(level) -> float:
    if not isinstance(level, (float, int)) or isinstance(level, bool) or not 0 < level < 1:
        raise ValueError(f"level must be a probability strictly between 0 and 1, got {level!r}")
    return float(level)


@dataclass(frozen=True)
class Sample:
    """One quantity measured once per seed (or per independent replicate).

    Build it with :func:`sample`; ``values`` is a read-only 1-D float64 copy.
    """

    values: np.ndarray
    name: str = ""

    @property
    def n(self) -> int:
        return int(self.values.size)

    @property
    def mean(self) -> float:
        return float(self.values.mean())

    @property
    def std(self) -> float:
        """Standard deviation over the seeds (``ddof=1``; 0 for a single value)."""
        return float(self.values.std(ddof=1)) if self.n > 1 else 0.0

    @property
    def sem(self) -> float:
        """Standard error of the mean, ``std / sqrt(n)``."""
        return self.std / math.sqrt(self.n)

    @property
    def min(self) -> float:
        return float(self.values.min())

    @property
    def max(self) -> float:
        return float(self.values.max())

    def ci(self, level: float = 0.95) -> tuple[float, float]:
        """Student-t confidence interval of the mean at ``level`` (needs at least two values)."""
        level = _check_level(level)
        if self.n < 2:
            raise ValueError(
                f"a confidence interval needs at least 2 values, {self.name or 'the sample'} has 1"
            )
        half = _t_quantile(level, self.n - 1) * self.sem
        return self.mean - half, self.mean + half

    def __mul__(self, factor) -> Sample:
        """The same sample in other units: ``100 * accuracy`` is in percent."""
        return Sample(_frozen(self.values * float(factor)), self.name)

    __rmul__ = __mul__

    def __sub__(self, other) -> Sample:
        """Per-seed differences with another sample of the same seeds (a paired comparison)."""
        other = _as_sample(other, "other")
        if other.n != self.n:
            raise ValueError(
                f"a paired difference needs the same seeds on both sides, got {self.n} and "
                f"{other.n} values"
            )
        name = f"{self.name} - {other.name}" if self.name and other.name else ""
        return Sample(_frozen(self.values - other.values), name)

    def text(self, fmt: str = ".2f", spread: str = "sd") -> str:
        """``"88.4 ± 0.7"`` (mean ± std), ``spread="range"``: ``"88.4 (87.5–89.3)"``."""
        if spread == "sd":
            return f"{self.mean:{fmt}} ± {self.std:{fmt}}"
        if spread == "range":
            return f"{self.mean:{fmt}} ({self.min:{fmt}}–{self.max:{fmt}})"
        raise ValueError(f"spread must be 'sd' or 'range', got {spread!r}")

    def __str__(self) -> str:
        label = f"{self.name}: " if self.name else ""
        return f"{label}{self.text('.4g')} (min {self.min:.4g}, max {self.max:.4g}, {self.n} seeds)"

    def glue(self, name: str, fmt: str) -> None:
        """Glue ``name`` (``"mean ± sd"``), ``name_mean``, ``name_sd``, ``name_min``, ``name_max``.

        Every number rounded with ``fmt`` (e.g. ``".1f"``), the precision the prose shows.
        """
        glue(name, self.text(fmt), None)
        for suffix, value in (
            ("mean", self.mean),
            ("sd", self.std),
            ("min", self.min),
            ("max", self.max),
        ):
            glue(f"{name}_{suffix}", value, fmt)


def _frozen(values) -> np.ndarray:
    values = np.array(values, dtype=np.float64)
    values.flags.writeable = False
    return values


def sample(values, name: str = "") -> Sample:
    """A :class:`Sample` from per-seed values (any 1-D array-like of finite numbers)."""
    if isinstance(values, Sample):
        return values if not name else Sample(values.values, name)
    try:
        array = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"values must be numbers, one per seed, got {type(values).__name__}"
        ) from None
    if array.ndim != 1 or array.size == 0:
        raise ValueError(
            f"values must be a non-empty 1-D sequence (one value per seed), got shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"values must be finite, got {array.tolist()}")
    return Sample(_frozen(array), name)


def _as_sample(values, argument: str) -> Sample:
    if isinstance(values, Sample):
        return values
    try:
        return sample(values)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{argument}: {exc}") from None


def over_seeds(experiment: Callable, *keys, n: int = MIN_SEEDS):
    """Run ``experiment(seed)`` once for each of ``seeds(*keys, n=n)`` and collect the results.

    ``experiment`` returns a number (the result is a :class:`Sample`) or a mapping from names to
    numbers (the result is a dict of Samples, one per name).
    """
    results = [experiment(s) for s in seeds(*keys, n=n)]
    if all(isinstance(r, Mapping) for r in results):
        names = list(results[0])
        if any(list(r) != names for r in results):
            raise ValueError("experiment must return the same names for every seed")
        return {k: sample([r[k] for r in results], k) for k in names}
    return sample(results)


# -------------------------------------------------------------------------------------- claims


@dataclass(frozen=True)
class Claim:
    """A checked statement: an estimate, its confidence interval, and what was required of it."""

    statement: str
    estimate: float
    ci: tuple[float, float]
    requirement: str
    level: float
    detail: str = field(default="", repr=False)

    def __str__(self) -> str:
        lo, hi = self.ci
        return (
            f"holds: {self.statement} — {self.estimate:+.4g}, {100 * self.level:g} % CI "
            f"[{lo:+.4g}, {hi:+.4g}] ({self.requirement}; {self.detail})"
        )

    def glue(self, name: str, fmt: str) -> None:
        """Glue ``name`` (the estimate), ``name_lo`` and ``name_hi`` (the interval), rounded."""
        glue(name, self.estimate, fmt)
        glue(f"{name}_lo", self.ci[0], fmt)
        glue(f"{name}_hi", self.ci[1], fmt)


def _min_seeds(s: Sample, argument: str, need: int) -> None:
    if s.n < need:
        raise ValueError(
            f"{argument} has {s.n} value(s): a claim drawn from training runs needs at least "
            f"{need} seeds per setting"
        )


def _values(s: Sample) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in s.values) + "]"


def _difference(a, b, paired, level, min_seeds):
    a, b = _as_sample(a, "a"), _as_sample(b, "b")
    _min_seeds(a, "a", min_seeds)
    _min_seeds(b, "b", min_seeds)
    if paired:
        d = a - b
        lo, hi = d.ci(level)
        detail = f"paired over {d.n} seeds; a - b per seed {_values(d)}"
        return d.mean, (lo, hi), detail
    # Welch's interval for a difference of two independent means.
    va, vb = a.std**2 / a.n, b.std**2 / b.n
    se = math.sqrt(va + vb)
    if se == 0:
        df = a.n + b.n - 2
    else:
        df = (va + vb) ** 2 / (va**2 / (a.n - 1) + vb**2 / (b.n - 1))
    half = _t_quantile(level, df) * se
    estimate = a.mean - b.mean
    detail = f"independent, a = {_values(a)}, b = {_values(b)}"
    return estimate, (estimate - half, estimate + half), detail


def _fail(statement, estimate, ci, requirement, level, detail):
    raise ClaimError(
        f"the seeds do not support the claim {statement!r}: estimate {estimate:+.4g}, "
        f"{100 * level:g} % CI [{ci[0]:+.4g}, {ci[1]:+.4g}], required {requirement} ({detail})"
    )


def claim_greater(
    a,
    b,
    statement: str,
    *,
    by: float = 0.0,
    paired: bool = True,
    level: float = 0.95,
    min_seeds: int = MIN_SEEDS,
) -> Claim:
    """Assert that ``a`` exceeds ``b`` by more than ``by``: the whole CI of mean(a - b) is above.

    ``paired=True`` (the default) compares seed by seed — use it when seed ``i`` of ``a`` and of
    ``b`` share their initial weights and batches; ``paired=False`` uses Welch's interval.
    """
    level = _check_level(level)
    estimate, ci, detail = _difference(a, b, paired, level, min_seeds)
    requirement = f"CI above {by:+.4g}"
    if not ci[0] > by:
        _fail(statement, estimate, ci, requirement, level, detail)
    return Claim(statement, estimate, ci, requirement, level, detail)


def claim_less(
    a,
    b,
    statement: str,
    *,
    by: float = 0.0,
    paired: bool = True,
    level: float = 0.95,
    min_seeds: int = MIN_SEEDS,
) -> Claim:
    """Assert that ``a`` is below ``b`` by more than ``by`` (see :func:`claim_greater`)."""
    level = _check_level(level)
    estimate, ci, detail = _difference(a, b, paired, level, min_seeds)
    requirement = f"CI below {-by:+.4g}"
    if not ci[1] < -by:
        _fail(statement, estimate, ci, requirement, level, detail)
    return Claim(statement, estimate, ci, requirement, level, detail)


def claim_within(
    a,
    b,
    statement: str,
    *,
    within: float,
    paired: bool = True,
    level: float = 0.95,
    min_seeds: int = MIN_SEEDS,
) -> Claim:
    """Assert that ``a`` and ``b`` differ by less than ``within``: the CI of the difference lies
    inside ``(-within, +within)``. This is how "no difference" is claimed: never as the absence
    of a significant difference, always as a bound on its size."""
    level = _check_level(level)
    if not (isinstance(within, (int, float)) and within > 0 and math.isfinite(within)):
        raise ValueError(f"within must be a positive number, got {within!r}")
    estimate, ci, detail = _difference(a, b, paired, level, min_seeds)
    requirement = f"CI inside ±{within:.4g}"
    if not (-within < ci[0] and ci[1] < within):
        _fail(statement, estimate, ci, requirement, level, detail)
    return Claim(statement, estimate, ci, requirement, level, detail)


def _one_sample(a, statement, threshold, above, level, min_seeds):
    level = _check_level(level)
    a = _as_sample(a, "a")
    _min_seeds(a, "a", min_seeds)
    ci = a.ci(level)
    detail = f"{a.n} seeds {_values(a)}"
    requirement = f"CI {'above' if above else 'below'} {threshold:.4g}"
    holds = ci[0] > threshold if above else ci[1] < threshold
    if not holds:
        _fail(statement, a.mean, ci, requirement, level, detail)
    return Claim(statement, a.mean, ci, requirement, level, detail)


def claim_above(a, threshold: float, statement: str, *, level=0.95, min_seeds: int = 3) -> Claim:
    """Assert that the mean of ``a`` is above ``threshold``: its whole CI is."""
    return _one_sample(a, statement, threshold, True, level, min_seeds)


def claim_below(a, threshold: float, statement: str, *, level=0.95, min_seeds: int = 3) -> Claim:
    """Assert that the mean of ``a`` is below ``threshold``: its whole CI is."""
    return _one_sample(a, statement, threshold, False, level, min_seeds)


# --------------------------------------------------------------------------- portable outputs


@dataclass(frozen=True)
class Bound:
    """A rounding-level quantity, known only to be below ``limit`` (see :func:`below`)."""

    value: float
    limit: float
    what: str

    @property
    def text(self) -> str:
        return f"below {self.limit:g}"

    def __str__(self) -> str:
        return f"{self.what}: {self.text}" if self.what else self.text

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def glue(self, name: str) -> None:
        """Glue the limit (e.g. ``1e-10``): the prose writes "below {glue:text}`name`"."""
        glue(name, self.limit, "g")


def below(values, limit: float, what: str = "") -> Bound:
    """Assert that every ``|value|`` is below ``limit`` and return it as a printable bound.

    For residuals, parity gaps and gradient-check errors: their digits are rounding noise that
    differs between CPUs, so they are stored as ``"below 1e-10"``, never as raw digits. Choose
    ``limit`` from the mathematics (float64 rounding of the operations involved), not from the
    observed value.
    """
    if not (isinstance(limit, (int, float, np.floating)) and limit > 0 and math.isfinite(limit)):
        raise ValueError(f"limit must be a positive finite number, got {limit!r}")
    array = np.abs(np.asarray(values, dtype=np.float64))
    if array.size == 0:
        raise ValueError("values must not be empty")
    if not np.all(np.isfinite(array)):
        raise ClaimError(f"{what or 'the value'} is not finite: {array.ravel()[:8].tolist()}")
    worst = float(array.max())
    if not worst < limit:
        raise ClaimError(f"{what or 'the value'} is {worst:.3g}, not below {limit:g}")
    return Bound(worst, float(limit), what)


def rounded(value, fmt: str):
    """``value`` rounded to what ``format(value, fmt)`` shows, as a float (an int for ``"d"``).

    ``rounded(0.6449517857521823, ".3f") == 0.645``: its repr is the same on every machine (unless
    the value lies within rounding noise of a rounding boundary).
    """
    if not isinstance(fmt, str) or not fmt or fmt[-1] not in "dfFeEgG%":
        raise ValueError(f"fmt must be a format spec ending in one of d f F e E g G %, got {fmt!r}")
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"value must be a number, got {value!r}")
    if fmt[-1] == "d":
        if isinstance(value, (float, np.floating)) and not float(value).is_integer():
            raise ValueError(f"fmt {fmt!r} is for integers, got {value!r}")
        return int(value)
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"value must be finite, got {number}")
    text = format(number, fmt).replace(",", "").replace("_", "")  # thousands separators
    if fmt[-1] == "%":
        return float(Decimal(text.rstrip("%")) / 100)
    return float(text)


def glue(name: str, value, fmt: str | None) -> None:
    """``myst_nb.glue(name, rounded(value, fmt), display=False)``: store what the reader sees.

    ``fmt=None`` only for strings and integers, which are stored as they are.
    """
    if fmt is None:
        if isinstance(value, str):
            stored = value
        elif isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
            stored = int(value)
        else:
            raise TypeError(
                f"glue({name!r}): a {type(value).__name__} needs fmt, the precision the prose "
                "shows (e.g. '.1f'), so that no digits beyond it are stored"
            )
    else:
        stored = rounded(value, fmt)
    from myst_nb import glue as myst_glue

    myst_glue(name, stored, display=False)


def glue_all(values: Mapping[str, object] | Iterable[tuple[str, object]], fmt: str | None) -> None:
    """:func:`glue` each ``name, value`` pair with the same ``fmt``."""
    items = values.items() if isinstance(values, Mapping) else values
    for name, value in items:
        glue(name, value, fmt)
