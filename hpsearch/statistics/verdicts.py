"""Judging optimizers across repeated studies: a two-level bootstrap verdict (studies, then seeds),
the probability that one optimizer's re-run beats another's, time to a target and its profile.

A study is one whole comparison protocol (its own data split, search draws and seeds); study index r
means the same split for every optimizer. Plain numbers in, frozen dataclasses out: no torch, no
optuna, no storage. A non-finite value counts as the worst possible, as in `stats.probability_best`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from hpsearch.record import sign as direction_sign
from hpsearch.statistics.basic import TIE_PROBABILITY, TIE_RTOL, WIN_PROBABILITY


@dataclass(frozen=True)
class StudyVerdict:
    winner: str | None  # best in more than half the studies and P(best) >= WIN_PROBABILITY
    tied: tuple[str, ...]  # when no winner: P(best) >= TIE_PROBABILITY or median in the leader's interval
    probabilities: dict[str, float]  # P(best) of the median under the two-level bootstrap
    medians: dict[str, float]  # median over studies of the per-study re-run mean
    intervals: dict[str, tuple[float, float]]  # (low, high) bootstrap interval of the median at `level`
    best_in: tuple[frozenset[str], ...]  # per study: the optimizers with the best mean there (ties share)
    wins: dict[str, int]  # studies where the optimizer is in best_in
    ranks: dict[str, tuple[float, ...]]  # per study: 1 = best, average rank for ties, nan where absent
    studies: int
    level: float
    text: str  # one sentence


@dataclass(frozen=True)
class TimeToTarget:
    target: float
    run_steps: dict[str, tuple[float, ...]]  # per run: the step it first reached the target (inf: never)
    times: dict[str, float]  # the step by which half its runs reached it (inf when more never did)
    fastest: float  # the smallest finite time (inf when nobody reached the target)
    ratios: dict[str, float]  # time / fastest (inf when not finite)
    reached: dict[str, bool]  # finite and ratio <= cap_ratio
    cap_ratio: float


def _scores(values: Sequence[float], sign: float) -> np.ndarray:
    """Values made 'higher wins', with every non-finite one the worst possible (-inf)."""
    x = sign * np.asarray(values, dtype=float).reshape(-1)
    x[~np.isfinite(x)] = -np.inf
    return x


def _row_medians(x: np.ndarray) -> np.ndarray:
    """Median of each row over its non-nan entries (nan marks a missing study); -inf for an empty row."""
    ordered = np.sort(x, axis=1)  # nan sorts last
    k = (~np.isnan(x)).sum(axis=1)
    rows = np.arange(x.shape[0])
    middle = (ordered[rows, np.maximum((k - 1) // 2, 0)] + ordered[rows, k // 2]) / 2.0
    return np.where(k > 0, middle, -np.inf)


def _study_scores(runs: Mapping[str, Sequence[Sequence[float]]], sign: float
                  ) -> tuple[int, dict[str, list[np.ndarray]]]:
    """(number of studies, per optimizer with any re-run: its per-study scores)."""
    if not runs:
        raise ValueError("runs is empty: give at least one optimizer")
    counts = {name: len(studies) for name, studies in runs.items()}
    if len(set(counts.values())) != 1:
        shown = ", ".join(f"{name} has {count}" for name, count in counts.items())
        raise ValueError(f"every optimizer needs one entry per study (empty where it lacks one): {shown}")
    studies = next(iter(counts.values()))
    if studies == 0:
        raise ValueError("runs has 0 studies: give at least one")
    table = {name: [_scores(values, sign) for values in per_study] for name, per_study in runs.items()}
    table = {name: per_study for name, per_study in table.items() if any(s.size for s in per_study)}
    if not table:
        raise ValueError("no optimizer in runs has any re-run")
    return studies, table


def _standing(means: np.ndarray, names: list[str]) -> tuple[list[frozenset[str]], np.ndarray]:
    """Per study (column of `means`, nan where absent): the best set, and every optimizer's rank."""
    ranks = np.full(means.shape, np.nan)
    best: list[frozenset[str]] = []
    for r in range(means.shape[1]):
        have = np.flatnonzero(~np.isnan(means[:, r]))
        col = means[have, r]
        for i, value in zip(have, col, strict=True):
            tied = np.isclose(col, value, rtol=TIE_RTOL, atol=0.0)
            ranks[i, r] = 1.0 + float(((col > value) & ~tied).sum()) + (float(tied.sum()) - 1.0) / 2.0
        best.append(frozenset(names[i] for i in have if ranks[i, r] == ranks[have, r].min()))
    return best, ranks


def _bootstrap(table: dict[str, list[np.ndarray]], studies: int, draws: int, seed: int) -> np.ndarray:
    """(draws, optimizers): each draw's median over resampled studies of resampled per-study means."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, studies, size=(draws, studies))  # shared: a study is one split for all
    drawn = np.empty((draws, len(table)))
    for column, per_study in enumerate(table.values()):
        slots = np.full((draws, studies), np.nan)  # a study the optimizer lacks stays out of its median
        for r, scores in enumerate(per_study):
            where = np.nonzero(picks == r)
            if scores.size and where[0].size:  # each drawn copy of a study gets its own seed resample
                slots[where] = scores[rng.integers(0, scores.size, size=(where[0].size, scores.size))].mean(1)
        drawn[:, column] = _row_medians(slots)
    return drawn


def two_level_draws(runs: Mapping[str, Sequence[Sequence[float]]], direction: str,
                    draws: int = 10_000, seed: int = 0) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The two-level bootstrap behind the verdict, for readings of it (`equivalence`): the
    optimizers with any re-run, each replicate's median per optimizer (replicates x optimizers)
    and the medians of the runs themselves, as scores where higher wins (a non-finite run -inf)."""
    sign = direction_sign(direction)
    if draws < 1:
        raise ValueError(f"draws must be at least 1, got {draws}")
    studies, table = _study_scores(runs, sign)
    means = np.array([[s.mean() if s.size else np.nan for s in per_study]
                      for per_study in table.values()])
    return list(table), _bootstrap(table, studies, draws, seed), _row_medians(means)


def two_level_verdict(runs: Mapping[str, Sequence[Sequence[float]]], direction: str, draws: int = 10_000,
                      seed: int = 0, level: float = 0.90) -> StudyVerdict:
    """Judge optimizers across studies by the median over studies of their per-study re-run mean.

    Each bootstrap draw resamples the studies with replacement (the same indices for every
    optimizer), then each drawn study's re-runs of each optimizer, and takes the median over the
    drawn studies of the per-study means; a study an optimizer lacks is skipped in its median.
    P(best) is how often an optimizer's drawn median is the best (ties split equally), the interval
    the drawn medians' central `level` range. A winner is best in more than half the studies (a
    shared best counts) with P(best) >= WIN_PROBABILITY. Optimizers with no re-runs at all are left
    out; a lone optimizer wins by default. Deterministic for a given seed.
    """
    sign = direction_sign(direction)
    if draws < 1:
        raise ValueError(f"draws must be at least 1, got {draws}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"interval level must lie strictly between 0 and 1, got {level}")
    studies, table = _study_scores(runs, sign)
    names = list(table)
    means = np.array([[s.mean() if s.size else np.nan for s in table[name]] for name in names])
    point = _row_medians(means)
    best_in, ranks = _standing(means, names)
    wins = {name: sum(name in best for best in best_in) for name in names}
    drawn = _bootstrap(table, studies, draws, seed)
    winners = np.isclose(drawn, drawn.max(axis=1, keepdims=True), rtol=TIE_RTOL, atol=0.0)
    p = dict(zip(names, (winners / winners.sum(axis=1, keepdims=True)).mean(axis=0).tolist(), strict=True))
    low = np.quantile(drawn, (1.0 - level) / 2.0, axis=0, method="lower")  # no interpolation: -inf is
    high = np.quantile(drawn, (1.0 + level) / 2.0, axis=0, method="higher")  # a value, not a nan maker
    ends = np.sort(sign * np.stack([low, high]), axis=0) + 0.0  # in the metric's units, low <= high
    result = StudyVerdict(
        winner=None, tied=(), probabilities=p,
        medians={name: float(sign * point[i]) + 0.0 for i, name in enumerate(names)},
        intervals={name: (float(ends[0, i]), float(ends[1, i])) for i, name in enumerate(names)},
        best_in=tuple(best_in), wins=wins,
        ranks={name: tuple(ranks[i].tolist()) for i, name in enumerate(names)},
        studies=studies, level=level, text="")
    ranked = sorted(names, key=lambda name: -p[name])  # stable: equal P keep the order of `runs`
    leader, over = ranked[0], f"{studies} stud{'y' if studies == 1 else 'ies'}"
    counts = [s.size for name in names for s in table[name] if s.size]
    span = str(min(counts)) if min(counts) == max(counts) else f"{min(counts)}-{max(counts)}"
    seeds = f"{span} seed{'' if max(counts) == 1 else 's'} each"
    if len(names) == 1:
        return replace(result, winner=leader,
                       text=f"{leader} is best by default: no competitor ({over}, {seeds})")
    if 2 * wins[leader] > studies and p[leader] >= WIN_PROBABILITY:
        text = f"{leader} is best (P(best) {p[leader]:.2f}; best in {wins[leader]} of {over}, {seeds})"
        return replace(result, winner=leader, text=text)
    i = names.index(leader)
    tied = tuple(name for name in ranked
                 if p[name] >= TIE_PROBABILITY or low[i] <= point[names.index(name)] <= high[i])
    if len(tied) >= 2:
        shown = f"{', '.join(tied[:-1])} and {tied[-1]}"
        text = f"tie between {shown} (P(best) {', '.join(f'{p[n]:.2f}' for n in tied)} over {over})"
    elif tied:
        text = (f"no clear winner: {leader} leads (P(best) {p[leader]:.2f}; best in {wins[leader]} of "
                f"{over}), short of best in more than half of them with P(best) {WIN_PROBABILITY:.2f}")
    else:
        text = f"no clear winner among {len(names)} optimizers (top P(best) {p[leader]:.2f} over {over})"
    return replace(result, tied=tied, text=text)


def _flat(values: Sequence[float | Sequence[float]]) -> list[float]:
    """Per-study nested lists pooled into one flat list; flat lists pass through."""
    return [float(v) for value in values
            for v in (value if isinstance(value, Sequence | np.ndarray) else (value,))]


def _pooled(values: Sequence[float | Sequence[float]], sign: float, what: str) -> np.ndarray:
    flat = _flat(values)
    if not flat:
        raise ValueError(f"{what} has no runs: need at least one")
    return _scores(flat, sign)


def probability_of_improvement(a_runs: Sequence[float | Sequence[float]],
                               b_runs: Sequence[float | Sequence[float]], direction: str) -> float:
    """P(A > B): over every pair (a run of A, a run of B), pooled across studies, 1 when a is better,
    0.5 when equal, else 0. Better respects the direction; non-finite is the worst (two are equal)."""
    sign = direction_sign(direction)
    a, b = _pooled(a_runs, sign, "a_runs"), _pooled(b_runs, sign, "b_runs")
    return float((a[:, None] > b[None, :]).mean() + 0.5 * (a[:, None] == b[None, :]).mean())


def improvement_matrix(runs: Mapping[str, Sequence[float | Sequence[float]]], direction: str
                       ) -> dict[tuple[str, str], float]:
    """P(A > B) for every ordered pair of distinct optimizers; those with no runs at all are left out."""
    direction_sign(direction)  # a bad direction is refused even with fewer than two optimizers
    if not runs:
        raise ValueError("runs is empty: give at least one optimizer")
    present = [name for name, values in runs.items() if _flat(values)]
    return {(a, b): probability_of_improvement(runs[a], runs[b], direction)
            for a in present for b in present if a != b}


def _ratios(times: Mapping[str, float], where: str) -> tuple[float, dict[str, float]]:
    """(fastest finite time, each time / fastest); inf for a time that is not finite. When the fastest
    is 0 (the target met before training), only other zeros are within any ratio of it."""
    for name, t in times.items():
        if t < 0:
            raise ValueError(f"time of {name!r}{where} must be non-negative, got {t}")
    fastest = min((t for t in times.values() if math.isfinite(t)), default=math.inf)

    def ratio(t: float) -> float:
        if not (math.isfinite(t) and math.isfinite(fastest)):
            return math.inf
        if fastest == 0.0:
            return 1.0 if t == 0.0 else math.inf
        return t / fastest

    return fastest, {name: ratio(float(t)) for name, t in times.items()}


def reference_target(reference_final_values: Sequence[float | Sequence[float]], direction: str) -> float:
    """The target a reference optimizer sets: the median of its re-runs' final values (nested per-study
    lists are pooled; a non-finite value counts as the worst). Refused when that median is not finite."""
    sign = direction_sign(direction)
    scores = _pooled(reference_final_values, sign, "reference_final_values")
    target = float(sign * np.median(scores))
    if not math.isfinite(target):
        raise ValueError(f"reference target is {target}: half or more of the reference's runs are not finite")
    return target


def time_to_target(curves: Mapping[str, Sequence[Sequence[tuple[float, float]]]], target: float,
                   direction: str, cap_ratio: float = 4.0) -> TimeToTarget:
    """Steps each optimizer takes to reach `target`: per run, the step of the first point whose value
    is at least as good as it (inf: never); per optimizer, the step by which half its runs reached
    it. Reached means finite and within cap_ratio x the fastest (AlgoPerf: beyond 4x counts as not
    reached)."""
    sign = direction_sign(direction)
    if not cap_ratio >= 1.0:
        raise ValueError(f"cap_ratio must be at least 1, got {cap_ratio}")
    if not math.isfinite(target):
        raise ValueError(f"target must be finite, got {target}")
    if not curves:
        raise ValueError("curves is empty: give at least one optimizer")
    run_steps: dict[str, tuple[float, ...]] = {}
    for name, per_run in curves.items():
        if not per_run:
            raise ValueError(f"optimizer {name!r} has no runs: need at least one curve")
        run_steps[name] = tuple(next((float(step) for step, value in points
                                      if math.isfinite(value) and sign * value >= sign * target), math.inf)
                                for points in per_run)
    # The step by which half its runs got there: the median for an odd count; for an even count the
    # lower middle, so that a reference whose median final value is the target reaches it.
    times = {name: sorted(steps)[math.ceil(len(steps) / 2) - 1] for name, steps in run_steps.items()}
    fastest, ratios = _ratios(times, "")
    return TimeToTarget(target=float(target), run_steps=run_steps, times=times, fastest=fastest,
                        ratios=ratios, reached={name: ratios[name] <= cap_ratio for name in times},
                        cap_ratio=cap_ratio)


def time_profile(times: Mapping[str, Mapping[str, float]], taus: Sequence[float],
                 cap_ratio: float = 4.0) -> dict[str, list[float]]:
    """For each optimizer and tau: the fraction of tasks on which its time is within tau x the task's
    fastest. Not reached (inf, or beyond cap_ratio x the fastest) and absent count as never within.
    `times[task][optimizer]`; keys are every optimizer seen, in first-seen order."""
    if not cap_ratio >= 1.0:
        raise ValueError(f"cap_ratio must be at least 1, got {cap_ratio}")
    for tau in taus:
        if not tau >= 1.0:
            raise ValueError(f"every tau must be at least 1, got {tau}")
    if not times:
        raise ValueError("times is empty: give at least one task")
    seen = list(dict.fromkeys(name for by_optimizer in times.values() for name in by_optimizer))
    within = {name: [0] * len(taus) for name in seen}
    for task, by_optimizer in times.items():
        _, ratios = _ratios(by_optimizer, f" on task {task!r}")
        for name, ratio in ratios.items():
            for k, tau in enumerate(taus):
                within[name][k] += ratio <= cap_ratio and ratio <= tau
    return {name: [count / len(times) for count in within[name]] for name in seen}
