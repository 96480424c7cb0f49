"""Each notebook's parameters: ``PARAMS`` in ``s<NN>.py`` (names, types, ranges, one line of help each).

``notebook.setup`` validates what the parameters cell and papermill assigned against it, and
``python -m picseq_utils.report`` validates a profile's values before a notebook starts.
"""
