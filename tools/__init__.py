"""Developer tooling (not part of the installed runtime): ``python -m tools.nbtools``."""
