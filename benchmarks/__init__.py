"""The benchmark harness of ``make bench``: ``python -m benchmarks`` (see ``docs/benchmarks.md``).

Modules: ``plan`` (cases, figures, targets), ``runner`` (repetitions in child processes),
``child`` (one repetition), ``workloads`` and ``app`` (W1-W5 and the benchmark application),
``scaleout`` and ``worker_proc`` (W6), ``limits`` (physical limits), ``stores`` (fresh stores,
the throwaway PostgreSQL server), ``report`` (the table and RESULTS.md), ``peers`` (DBOS,
Temporal), ``machine``. ``interpreter_bench`` is the interpreter's own micro-benchmark.
"""
