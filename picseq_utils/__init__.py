"""picseq_utils: the helper package behind the picseq notebooks.

Notebooks narrate; this package computes. Main entry points:

- ``picseq_utils.notebook``: ``begin`` / ``setup`` (parameters, seeding, device, metrics) for every notebook
- ``picseq_utils.data``: data sets with provenance (real / bundled / stand-in) and fast loaders
- ``picseq_utils.models``: ResNet-18 and ViT builders, parameter counts, ImageNet weights
- ``picseq_utils.train``: the one training loop (``fit``, ``evaluate``)
- ``picseq_utils.metrics``: the one metrics writer (``record``)
- ``picseq_utils.report``: ``python -m picseq_utils.report --profile smoke``
"""
__version__ = "0.1.0"
