"""How far two runs of the same comparison agree: run `hpsearch compare` twice with different
`--seed` into two storages, then

    python tests/benchmarks/verdict_stability.py sqlite:///a.db sqlite:///b.db

Per task: each run's winner or tie set, whether they agree (the same winner, or identical tie sets;
one's winner inside the other's tie set is counted apart), Kendall's tau between the two orderings
by the verdict's score (the median over studies of the re-run mean), how many verdicts named a
winner, and whether a claim was contradicted: a winner named by one run with P(best) below 0.05 in
the other. Then each run's decision (read with the default margin, or `--margin`): its
recommendation and classes, whether what one run recommends is best, equivalent or recommended in
the other (the recommendation holds), and whether an optimizer is worse in one run and best or
recommended in the other (the decision is contradicted), and what each run's undetermined would
need: studies, or seeds where search luck does not dominate.
"""

from __future__ import annotations

import argparse
import itertools

from hpsearch.engine.storage import display, load_studies, storage_url
from hpsearch.report.summaries.collect import summarise
from hpsearch.report.summaries.decision import studies_needed
from hpsearch.report.summaries.repeated import RepeatedComparison

CONTRADICTED_BELOW = 0.05


def kendall_tau(a: dict[str, float], b: dict[str, float]) -> float:
    """Kendall's tau-b between two scorings of the same optimizers (ties count as neither)."""
    names = sorted(set(a) & set(b))
    concordant = discordant = ties_a = ties_b = 0
    for x, y in itertools.combinations(names, 2):
        da, db = a[x] - a[y], b[x] - b[y]
        if da == 0 and db == 0:
            continue
        if da == 0:
            ties_a += 1
        elif db == 0:
            ties_b += 1
        elif (da > 0) == (db > 0):
            concordant += 1
        else:
            discordant += 1
    denominator = ((concordant + discordant + ties_a) * (concordant + discordant + ties_b)) ** 0.5
    return (concordant - discordant) / denominator if denominator else float("nan")


def claim(g: RepeatedComparison) -> str:
    return f"winner {g.winner}" if g.winner else f"tie {{{', '.join(sorted(g.tied))}}}"


def agreement(a: RepeatedComparison, b: RepeatedComparison) -> str:
    if a.winner and a.winner == b.winner:
        return "same winner"
    if not a.winner and not b.winner and set(a.tied) == set(b.tied):
        return "identical tie sets"
    if (a.winner and a.winner in b.tied) or (b.winner and b.winner in a.tied):
        return "one's winner inside the other's tie set"
    if not a.winner and not b.winner:
        shared = set(a.tied) & set(b.tied)
        return f"tie sets differ ({len(shared)} of {len(set(a.tied) | set(b.tied))} in both)"
    return "disagree"


def contradicted(a: RepeatedComparison, b: RepeatedComparison) -> list[str]:
    """Winners one run named that the other gave P(best) below the threshold."""
    found = []
    for named, other in ((a, b), (b, a)):
        if named.winner:
            p = next((r.p_best for r in other.optimizers if r.optimizer == named.winner), None)
            if p is not None and p < CONTRADICTED_BELOW:
                found.append(f"{named.winner} (P(best) {p:.2f} in the other run)")
    return found


def standing(g: RepeatedComparison, name: str) -> str:
    """An optimizer's place in a run's decision: recommended, or its class."""
    decision = g.decision
    if decision is None:
        return "no decision"
    if name in decision.recommendation.recommended:
        return "best (leaning)" if decision.leaning else "recommended"
    found = decision.classes.standings.get(name)
    return found.category if found else "absent"


def decided(g: RepeatedComparison) -> str:
    """A run's decision in one line: what it recommends and how it classes the rest."""
    decision = g.decision
    if decision is None:
        return "no decision"
    chosen = decision.recommendation
    classes = {c: [n for n, s in decision.classes.standings.items() if s.category == c
                   and n not in chosen.recommended]
               for c in ("best", "equivalent", "worse", "not determined")}
    shown = "; ".join(f"{c} {', '.join(n)}" for c, n in classes.items() if n)
    verb = "leans to" if decision.leaning else "recommends"
    how = chosen.criterion or ("quality alone" if len(chosen.candidates) == 1
                               else "nothing: no criterion separated them")
    return (f"{verb} {', '.join(chosen.recommended)} (by {how}); "
            f"{shown}; margin {decision.margin:.3g}")


def would_tell(g: RepeatedComparison) -> str:
    """What the undetermined of a run ask for: the studies (their median and range), and for how
    many of them more seeds alone would do, where search luck does not dominate."""
    decision = g.decision
    if decision is None:
        return "no decision"
    open_ = [s for s in decision.classes.standings.values() if s.category == "not determined"]
    if not open_:
        return "nothing undetermined"
    studies = sorted(n for s in open_ if (n := studies_needed(s, len(g.studies))) is not None)
    seeds = sum(s.seeds_needed is not None for s in open_)
    shares = [s.search_share for s in open_ if s.search_share is not None]
    luck = f"; search luck {min(shares):.0%}-{max(shares):.0%} of a study's spread" if shares else ""
    span = (f"{studies[len(studies) // 2]} studies (median; {studies[0]}-{studies[-1]})" if studies
            else "none within 100x")
    return (f"{len(open_)} not determined: {span}, {len(open_) - len(studies)} on the margin; more "
            f"seeds alone would tell {seeds} of {len(open_)}{luck}")


def recommendation_holds(a: RepeatedComparison, b: RepeatedComparison, leanings: bool
                         ) -> bool | None:
    """Every optimizer either run recommends (or, with `leanings`, leans to) is best, equivalent or
    recommended in the other; None where neither run does."""
    named = [(name, other) for one, other in ((a, b), (b, a)) if one.decision
             and one.decision.leaning == leanings for name in one.decision.recommendation.recommended]
    if not named:
        return None
    return all(standing(other, name) in ("recommended", "best", "best (leaning)", "equivalent")
               for name, other in named)


def decision_contradicted(a: RepeatedComparison, b: RepeatedComparison) -> list[str]:
    """Optimizers worse in one run and best or recommended in the other."""
    names = {n for g in (a, b) if g.decision for n in g.decision.classes.standings}
    return sorted(n for n in names
                  if {standing(a, n), standing(b, n)} & {"worse"}
                  and {standing(a, n), standing(b, n)} & {"best", "best (leaning)", "recommended"})


def groups(url: str, margin: float | None = None) -> dict[str, RepeatedComparison]:
    report = summarise(load_studies(url, None), display(storage_url(url)), importance=False,
                       margin=margin)
    return {g.task: g for g in report.repeated}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first")
    parser.add_argument("second")
    parser.add_argument("--margin", type=float, help="read both with this margin [default: each "
                                                     "task's own]")
    args = parser.parse_args()
    one, two = groups(args.first, args.margin), groups(args.second, args.margin)
    named = contradictions = 0
    holds: dict[str, list[bool]] = {"recommendations": [], "leanings": []}
    for task in sorted(set(one) & set(two)):
        a, b = one[task], two[task]
        named += bool(a.winner) + bool(b.winner)
        tau = kendall_tau(*({r.optimizer: r.median for r in g.optimizers if r.median is not None}
                            for g in (a, b)))
        print(f"{task}: {len(a.studies)} vs {len(b.studies)} studies")
        print(f"  first:  {claim(a)}\n  second: {claim(b)}")
        print(f"  agreement: {agreement(a, b)}; Kendall tau {tau:.2f}; "
              f"contradicted: {', '.join(contradicted(a, b)) or 'none'}")
        against = decision_contradicted(a, b)
        contradictions += bool(against)
        print(f"  decision, first:  {decided(a)}\n  decision, second: {decided(b)}")
        print(f"  would tell, first:  {would_tell(a)}\n  would tell, second: {would_tell(b)}")
        for kind, leanings in (("recommendations", False), ("leanings", True)):
            held = recommendation_holds(a, b, leanings)
            if held is not None:
                holds[kind].append(held)
            shown = "none made" if held is None else "hold" if held else "do not hold"
            print(f"  {kind}: {shown}")
        print(f"  worse in one and best or recommended in the other: {', '.join(against) or 'none'}")
    tasks = len(set(one) & set(two))
    print(f"verdicts naming a winner: {named} of {2 * tasks}")
    for kind, held in holds.items():
        print(f"{kind} that hold in the other run: {sum(held)} of {len(held)} tasks with one")
    print(f"decisions contradicted: {contradictions} of {tasks}")


if __name__ == "__main__":
    main()
