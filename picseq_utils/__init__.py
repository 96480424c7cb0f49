"""picseq_utils: the shared machinery behind the picseq notebooks (data, ``fit``, metrics, the report); the
notebooks teach the methods in their own cells, and CONTRIBUTING.md lists what each module here provides."""
__version__ = "0.1.0"
