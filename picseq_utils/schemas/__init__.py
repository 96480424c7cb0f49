"""Each notebook's parameters: ``PARAMS`` in ``s<NN>.py`` (names, types, ranges, one line of help each),
validated by ``notebook.setup`` and, for a profile's values, by ``python -m picseq_utils.report``."""
