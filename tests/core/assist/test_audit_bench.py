"""The audit benchmark's own figures (the benchmark drives the product's rule; this checks its counting)."""

from benchmarks.assist_audit import withdrawn


def test_withdrawn_counts_the_trainings_after_the_first_shown_that_showed_nothing():
    assert withdrawn([False, True, False, True, False]) == [2, 3]
    assert withdrawn([True]) == [0, 0]
    assert withdrawn([False, False]) == [0, 0]  # never shown: nothing to withdraw
