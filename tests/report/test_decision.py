"""A comparison's decision in the report: the default margin of each kind of task, the test split's
size read back for studies that did not store it, and the sentence a reader acts on."""

from __future__ import annotations

import pytest

from hpsearch.report.summaries.decision import decision_text, default_margin, margin_text
from hpsearch.statistics.equivalence import Classes, Standing
from hpsearch.statistics.recommendation import Recommendation, Separation


def test_default_margins_follow_the_metric() -> None:
    margin, why = default_margin("small", "accuracy", 0.97, 114)
    assert margin == pytest.approx(1 / 114)
    assert why == "the larger of one test sample's accuracy (1/114) and 0.5 points"
    assert default_margin("sparse", "accuracy", 0.9, 600)[0] == 0.005  # one row is under the floor
    assert default_margin("small", "accuracy", 0.97, None)[0] == 0.005
    assert default_margin("lm", "loss", 2.1, None) == (0.01, "the default for a language model")
    assert default_margin("diabetes", "rmse", 52.0, None) == (pytest.approx(0.52),
                                                              "1 % of the best median rmse")


def test_a_margin_reads_in_points_of_accuracy_and_in_the_metrics_units_otherwise() -> None:
    assert margin_text(1 / 114, "accuracy") == "0.88 points"
    assert margin_text(1.0, "accuracy") == "100 points"
    assert margin_text(0.01, "loss") == "0.01"
    assert margin_text(0.01, "loss", "lm") == "0.01 nats per token"


def test_the_sentence_names_the_criterion_that_decided_and_by_how_much() -> None:
    def standing(name: str, category: str, difference: float) -> Standing:
        return Standing(name, category, difference, (difference, difference), 1.0, 0.0)

    classes = Classes("adamw", 0.0088, {"adamw": standing("adamw", "best", 0.0),
                                        "adam": standing("adam", "equivalent", 0.002),
                                        "sgd": standing("sgd", "worse", 0.05)})
    chosen = Recommendation(("adam",), "time", "steps to the target", "steps",
                            Separation("adamw", 2.3, 0.97), ("adamw", "adam"), tried=("time",))
    text = decision_text(classes, chosen, "accuracy", "given", [])
    assert text == ("Use adam: tied for best test accuracy with 1 other (within 0.88 points); "
                    "reached the target fastest (adamw took 2.3x its steps, P 0.97); worse by more "
                    "than the margin: sgd. Margin: 0.88 points (given).")
