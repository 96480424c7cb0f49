"""Progress bars that leave one line behind.

In a terminal a bar is tqdm on stderr. In a notebook kernel (JupyterLab, papermill, nbval) the bar is
one display that updates in place: a reader of JupyterLab sees it move, and an executed notebook
(papermill stores only a display's last update) keeps one summary line per run, not a stream of
refreshes in red stderr blocks.
"""
from __future__ import annotations

import sys

from tqdm.std import tqdm


def in_kernel() -> bool:
    """True inside an IPython kernel (a notebook), False in a terminal or a plain script."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return bool(shell) and type(shell).__name__ == "ZMQInteractiveShell"


class DisplayLine:
    """A file-like object for tqdm that shows the latest line in one updating notebook display."""

    def __init__(self):
        from IPython.display import display

        self.handle = display({"text/plain": ""}, raw=True, display_id=True)
        self.last = ""

    def write(self, text: str) -> None:
        line = text.replace("\r", "\n").strip().split("\n")[-1].strip()
        if line and line != self.last:
            self.last = line
            self.handle.update({"text/plain": line}, raw=True)

    def flush(self) -> None:
        pass


def bar(total: int, desc: str, *, initial: int = 0, disable: bool = False, unit: str = "step") -> tqdm:
    """A progress bar for ``total`` steps (see the module docstring for where it shows)."""
    if disable:
        return tqdm(total=total, disable=True)
    if in_kernel():
        return tqdm(total=total, initial=initial, desc=desc, file=DisplayLine(), mininterval=1.0, ncols=100,
                    unit=unit, ascii=False)
    return tqdm(total=total, initial=initial, desc=desc, file=sys.stderr, unit=unit, dynamic_ncols=True,
                mininterval=1.0 if sys.stderr.isatty() else 10.0)
