"""picseq_utils: the shared machinery behind the picseq notebooks (data, ``fit``, metrics, the report); the
notebooks teach the methods in their own cells, and CONTRIBUTING.md lists what each module here provides."""
import os

# Several picseq processes on one machine (a report and a notebook, two notebooks, the tests) take turns at the
# cores (``runtime.cpu_turn``). While one process has its turn, the other's OpenMP threads must not spin for long
# on the cores it holds: they spin 30,000 rounds (libgomp's default is 300,000), then sleep. Read when torch loads
# its OpenMP library, so set before that; the kernel spec and the Makefile set it too (a notebook imports torch
# first). Measured in benchmarks/concurrency.py.
os.environ.setdefault("GOMP_SPINCOUNT", "30000")

__version__ = "0.1.0"
