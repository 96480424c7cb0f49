"""picseq_utils: the shared machinery behind the picseq notebooks (data, ``fit``, metrics, the report).

The notebooks teach the methods in their own cells; CONTRIBUTING.md lists what each module here provides.
"""
__version__ = "0.1.0"
