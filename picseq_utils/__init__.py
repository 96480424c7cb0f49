"""picseq_utils: the shared machinery behind the picseq notebooks (data, ``fit``, metrics, the report); the
notebooks teach the methods in their own cells, and CONTRIBUTING.md lists what each module here provides."""
import os

# OpenMP threads that wait for work sleep instead of spinning, so that several picseq processes on one machine (a
# report and a notebook, two notebooks, the tests) share its cores instead of starving each other. Set before torch
# starts its thread pool; the kernel spec and the Makefile set it too (a notebook imports torch first).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
