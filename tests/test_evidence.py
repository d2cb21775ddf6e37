"""Tests of bncourse.evidence: seeds and their offset, samples, claims, rounding, bounds, glue."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from bncourse import evidence as ev

# --------------------------------------------------------------------------------------- seeds


def test_seed_is_deterministic_and_depends_on_every_key(monkeypatch):
    monkeypatch.delenv(ev.SEED_OFFSET_VARIABLE, raising=False)
    assert ev.seed(6) == ev.seed(6)
    assert ev.seed("placement", 3) == ev.seed("placement", 3)
    values = {
        ev.seed(6),
        ev.seed(7),
        ev.seed("placement", 3),
        ev.seed("placement", 4),
        ev.seed(6, 0),
    }
    assert len(values) == 5
    assert all(0 <= v < 2**32 for v in values)
    # A known value: the hash must not change between releases, or stored outputs would.
    assert ev.seed(6) == int(np.random.SeedSequence([0, 1, 6]).generate_state(1, np.uint32)[0])


def test_offset_gives_unrelated_seeds(monkeypatch):
    monkeypatch.delenv(ev.SEED_OFFSET_VARIABLE, raising=False)
    base = [ev.seed(k) for k in range(50)]
    monkeypatch.setenv(ev.SEED_OFFSET_VARIABLE, "1")
    assert ev.seed_offset() == 1
    shifted = [ev.seed(k) for k in range(50)]
    assert not set(base) & set(shifted)
    monkeypatch.setenv(ev.SEED_OFFSET_VARIABLE, "0")
    assert [ev.seed(k) for k in range(50)] == base
    monkeypatch.setenv(ev.SEED_OFFSET_VARIABLE, "")
    assert ev.seed_offset() == 0


@pytest.mark.parametrize("raw", ["-1", "one", "1.5"])
def test_bad_offset_names_the_variable(monkeypatch, raw):
    monkeypatch.setenv(ev.SEED_OFFSET_VARIABLE, raw)
    with pytest.raises(ValueError, match="BN_SEED_OFFSET must be a non-negative integer"):
        ev.seed(1)


def test_seeds_are_distinct_and_offset_dependent(monkeypatch):
    monkeypatch.delenv(ev.SEED_OFFSET_VARIABLE, raising=False)
    s = ev.seeds(62, n=8)
    assert len(set(s)) == 8 and s == ev.seeds(62, n=8)
    assert ev.seeds(62, n=3) == s[:3]  # asking for more seeds keeps the first ones
    monkeypatch.setenv(ev.SEED_OFFSET_VARIABLE, "2")
    assert not set(ev.seeds(62, n=8)) & set(s)


def test_rng_is_seeded_from_seed(monkeypatch):
    monkeypatch.delenv(ev.SEED_OFFSET_VARIABLE, raising=False)
    a = ev.rng(5).standard_normal(4)
    b = np.random.default_rng(ev.seed(5)).standard_normal(4)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "keys, error",
    [
        ((), TypeError),
        ((1.5,), TypeError),
        ((True,), TypeError),
        ((-1,), ValueError),
        ((None,), TypeError),
    ],
)
def test_bad_seed_keys(keys, error):
    with pytest.raises(error, match="seed"):
        ev.seed(*keys)


@pytest.mark.parametrize("n", [0, -2, 2.0, True])
def test_bad_seed_count(n):
    with pytest.raises(ValueError, match="n must be a positive integer"):
        ev.seeds(1, n=n)


# ------------------------------------------------------------------------------------- samples


def test_sample_statistics():
    s = ev.sample([1.0, 2.0, 3.0, 4.0, 5.0], "x")
    assert (s.n, s.mean, s.min, s.max) == (5, 3.0, 1.0, 5.0)
    assert s.std == pytest.approx(math.sqrt(2.5), rel=1e-15)
    assert s.sem == pytest.approx(math.sqrt(2.5 / 5), rel=1e-15)
    lo, hi = s.ci(0.95)
    half = 2.7764451051977987 * math.sqrt(0.5)  # t_{0.975, 4}
    assert lo == pytest.approx(3 - half, rel=1e-12) and hi == pytest.approx(3 + half, rel=1e-12)
    assert s.text(".1f") == "3.0 ± 1.6"
    assert s.text(".0f", spread="range") == "3 (1–5)"
    assert "5 seeds" in str(s)


def test_sample_is_a_read_only_copy():
    values = np.array([1.0, 2.0, 3.0])
    s = ev.sample(values)
    values[0] = 99
    assert s.values[0] == 1.0
    with pytest.raises(ValueError):
        s.values[0] = 5


def test_sample_arithmetic():
    a, b = ev.sample([1.0, 2.0, 4.0], "a"), ev.sample([0.5, 1.0, 1.5], "b")
    np.testing.assert_array_equal((100 * a).values, [100.0, 200.0, 400.0])
    d = a - b
    np.testing.assert_array_equal(d.values, [0.5, 1.0, 2.5])
    assert d.name == "a - b"
    with pytest.raises(ValueError, match="same seeds"):
        a - ev.sample([1.0, 2.0])


@pytest.mark.parametrize(
    "values, error",
    [([], ValueError), ([[1.0, 2.0]], ValueError), ([1.0, np.nan], ValueError), (["a"], TypeError)],
)
def test_bad_samples(values, error):
    with pytest.raises(error, match="values"):
        ev.sample(values)


def test_single_value_has_no_interval():
    with pytest.raises(ValueError, match="at least 2 values"):
        ev.sample([1.0]).ci()


def test_over_seeds_collects_numbers_and_mappings(monkeypatch):
    monkeypatch.delenv(ev.SEED_OFFSET_VARIABLE, raising=False)
    seen = []

    def experiment(seed):
        seen.append(seed)
        return float(np.random.default_rng(seed).uniform())

    s = ev.over_seeds(experiment, "exp", n=6)
    assert isinstance(s, ev.Sample) and s.n == 6 and seen == ev.seeds("exp", n=6)
    d = ev.over_seeds(lambda seed: {"a": seed % 7, "b": 1.0}, "exp", n=5)
    assert set(d) == {"a", "b"} and d["b"].std == 0.0 and d["a"].name == "a"
    with pytest.raises(ValueError, match="same names"):
        ev.over_seeds(lambda seed: {"a": 1.0} if seed % 2 else {"b": 1.0}, "exp", n=8)


# -------------------------------------------------------------------------------------- claims

AFTER = [0.806, 0.802, 0.811, 0.804, 0.809]
BEFORE = [0.767, 0.770, 0.764, 0.768, 0.766]


def test_claim_greater_holds_and_reports_the_interval():
    c = ev.claim_greater(AFTER, BEFORE, "after beats before", by=0.02)
    d = np.subtract(AFTER, BEFORE)
    assert c.estimate == pytest.approx(d.mean(), rel=1e-12)
    half = 2.7764451051977987 * d.std(ddof=1) / math.sqrt(5)
    assert c.ci == pytest.approx((d.mean() - half, d.mean() + half), rel=1e-12)
    assert str(c).startswith("holds: after beats before")


def test_claim_greater_fails_with_every_seed_shown():
    with pytest.raises(ev.ClaimError) as info:
        ev.claim_greater(AFTER, BEFORE, "after beats before by 5 points", by=0.05)
    message = str(info.value)
    assert "after beats before by 5 points" in message and "CI above +0.05" in message
    assert "0.039" in message  # the first seed's difference, 0.806 - 0.767
    assert isinstance(info.value, AssertionError)


def test_claim_fails_when_the_seeds_disagree():
    # Mean difference +0.02, but one seed goes the other way by a lot: the CI straddles zero.
    a = [0.80, 0.81, 0.82, 0.80, 0.70]
    b = [0.75, 0.76, 0.77, 0.75, 0.80]
    with pytest.raises(ev.ClaimError):
        ev.claim_greater(a, b, "a beats b")
    ev.claim_within(a, b, "a and b within 15 points", within=0.15)


def test_paired_and_independent_intervals_differ():
    # A shared per-seed offset: the paired difference is exact, the independent one is not.
    base = np.array([0.1, 0.5, 0.9, 0.3, 0.7])
    a, b = base + 0.01, base
    ev.claim_greater(a, b, "paired", by=0.005)
    with pytest.raises(ev.ClaimError):
        ev.claim_greater(a, b, "independent", by=0.005, paired=False)


def test_claim_less_mirrors_claim_greater():
    c = ev.claim_less(BEFORE, AFTER, "before loses", by=0.02)
    assert c.estimate < -0.02 and c.ci[1] < -0.02
    with pytest.raises(ev.ClaimError, match="CI below -0.05"):
        ev.claim_less(BEFORE, AFTER, "before loses by 5 points", by=0.05)


def test_claim_within_is_a_bound_on_the_difference():
    same = [0.884, 0.880, 0.889, 0.877, 0.886]
    other = [0.885, 0.879, 0.888, 0.879, 0.887]
    c = ev.claim_within(same, other, "no difference larger than 0.5 points", within=0.005)
    assert -0.005 < c.ci[0] < c.ci[1] < 0.005
    with pytest.raises(ev.ClaimError, match="inside ±0.0005"):
        ev.claim_within(same, other, "identical", within=0.0005)
    with pytest.raises(ValueError, match="within must be a positive number"):
        ev.claim_within(same, other, "x", within=0)


def test_claims_need_enough_seeds():
    with pytest.raises(ValueError, match="at least 5 seeds"):
        ev.claim_greater(AFTER[:3], BEFORE[:3], "three seeds")
    with pytest.raises(ValueError, match="at least 3 seeds"):
        ev.claim_above([0.9, 0.91], 0.5, "two seeds")


def test_one_sample_claims():
    c = ev.claim_above(AFTER, 0.79, "after reaches 79 %")
    assert c.ci[0] > 0.79
    with pytest.raises(ev.ClaimError, match="CI above 0.805"):
        ev.claim_above(AFTER, 0.805, "after reaches 80.5 %")
    ev.claim_below(BEFORE, 0.775, "before stays under 77.5 %")
    with pytest.raises(ev.ClaimError, match="CI below 0.766"):
        ev.claim_below(BEFORE, 0.766, "before stays under 76.6 %")


@pytest.mark.parametrize("level", [0, 1, 1.5, "0.95", True])
def test_bad_level(level):
    with pytest.raises(ValueError, match="level must be a probability"):
        ev.claim_greater(AFTER, BEFORE, "x", level=level)


def test_higher_level_is_harder_to_meet():
    a = [1.0, 1.2, 0.9, 1.1, 1.05]
    ev.claim_above(a, 0.9, "90 % level", level=0.90)
    with pytest.raises(ev.ClaimError):
        ev.claim_above(a, 0.9, "99.9 % level", level=0.999)


# ----------------------------------------------------------------------------------- rounding


@pytest.mark.parametrize(
    "value, fmt, expected",
    [
        (0.6449517857521823, ".3f", 0.645),
        (0.6449517857521816, ".3f", 0.645),  # the other CPU's digits: the same stored value
        (112.02400318226161, ".0f", 112.0),
        (112.02400318226108, ".1f", 112.0),
        (3.6e-12, ".0e", 4e-12),
        (36.60323412732292, ".0f", 37.0),
        (0.123456, ".1%", 0.123),
        (np.float32(0.25), ".2f", 0.25),
        (7, "d", 7),
        (np.int64(7), "d", 7),
        (12345.678, ".3g", 12300.0),
        (1749.4, ",.0f", 1749.0),  # thousands separators are dropped from what is stored
        (1234567.891, "_.1f", 1234567.9),
    ],
)
def test_rounded(value, fmt, expected):
    out = ev.rounded(value, fmt)
    assert out == expected and type(out) is type(expected)
    assert len(repr(out)) <= 9


@pytest.mark.parametrize(
    "value, fmt, error",
    [
        (1.0, "", ValueError),
        (1.0, ".2s", ValueError),
        (1.0, None, ValueError),
        (1.5, "d", ValueError),
        (float("nan"), ".1f", ValueError),
        (True, ".1f", TypeError),
    ],
)
def test_rounded_rejects(value, fmt, error):
    with pytest.raises(error):
        ev.rounded(value, fmt)


def test_bounds():
    b = ev.below(3.6e-12, 1e-10, "exact fit residual")
    assert str(b) == "exact fit residual: below 1e-10" and b.text == "below 1e-10"
    assert f"{b}" == str(b)
    assert ev.below(np.array([[1e-9, -2e-8]]), 1e-6).value == 2e-8
    with pytest.raises(ev.ClaimError, match="exact fit residual is 2e-09, not below 1e-10"):
        ev.below(2e-9, 1e-10, "exact fit residual")
    with pytest.raises(ev.ClaimError, match="not finite"):
        ev.below([1e-12, np.nan], 1e-10)
    with pytest.raises(ValueError, match="limit must be a positive finite number"):
        ev.below(1e-12, 0)
    with pytest.raises(ValueError, match="must not be empty"):
        ev.below([], 1e-10)


# ---------------------------------------------------------------------------------------- glue


@pytest.fixture
def glued(monkeypatch):
    """Capture what bncourse.evidence.glue hands to myst_nb.glue."""
    import myst_nb

    calls = {}

    def fake_glue(name, value, display=True):
        assert display is False
        calls[name] = value

    monkeypatch.setattr(myst_nb, "glue", fake_glue)
    return calls


def test_glue_stores_what_the_prose_shows(glued):
    ev.glue("acc", 0.6449517857521823, ".3f")
    ev.glue("count", np.int64(4), None)
    ev.glue("label", "88.4 ± 0.7", None)
    assert glued == {"acc": 0.645, "count": 4, "label": "88.4 ± 0.7"}
    assert json.dumps(glued)  # plain Python values
    with pytest.raises(TypeError, match="needs fmt"):
        ev.glue("acc", 0.6449517857521823, None)


def test_sample_claim_and_bound_glue(glued):
    ev.sample([88.42, 88.9, 87.7, 88.1, 89.3]).glue("pl", ".1f")
    assert glued["pl"] == "88.5 ± 0.6" and glued["pl_mean"] == 88.5 and glued["pl_max"] == 89.3
    ev.claim_greater(AFTER, BEFORE, "x").glue("gap", ".3f")
    assert glued["gap"] == 0.039 and glued["gap_lo"] < glued["gap"] < glued["gap_hi"]
    ev.below(3e-13, 1e-10).glue("resid")
    assert glued["resid"] == 1e-10


def test_glue_all(glued):
    ev.glue_all({"a": 1.23456, "b": 2.5}, ".2f")
    ev.glue_all([("c", 3.14159)], ".1f")
    assert glued == {"a": 1.23, "b": 2.5, "c": 3.1}
