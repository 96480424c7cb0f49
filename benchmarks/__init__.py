"""Speed benchmarks for picseq: ``python -m benchmarks`` (or ``make bench``).

Every benchmark runs two ways of doing the same work in one process, alternating, several
repetitions, and reports the medians and their ratio, after checking that both sides computed
the same thing (same model, same number of samples, finite loss).
"""
