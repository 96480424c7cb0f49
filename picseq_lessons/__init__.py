"""Method code exported from the notebooks' ``#| export`` cells by ``make export``: generated, never edited.

The notebook is where each method is written and explained; this package lets another notebook, a
benchmark or a test use it without copying it (see CONTRIBUTING.md, "One source of truth").
"""
