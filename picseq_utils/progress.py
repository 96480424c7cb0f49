"""Progress bars that leave one line behind: tqdm in a terminal; in a notebook kernel one display updated in
place, so an executed notebook keeps one summary line per run."""
from __future__ import annotations

import sys

from tqdm.std import tqdm


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


def bar(total: int, desc: str, *, initial: int = 0, disable: bool = False) -> tqdm:
    """A progress bar for ``total`` steps (see the module docstring for where it shows)."""
    if disable:
        return tqdm(total=total, disable=True)
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    if shell and type(shell).__name__ == "ZMQInteractiveShell":  # a notebook kernel, not a terminal or script
        return tqdm(total=total, initial=initial, desc=desc, file=DisplayLine(), mininterval=1.0, ncols=100,
                    unit="step", ascii=False)
    return tqdm(total=total, initial=initial, desc=desc, file=sys.stderr, unit="step", dynamic_ncols=True,
                mininterval=1.0 if sys.stderr.isatty() else 10.0)
