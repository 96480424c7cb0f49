"""Benchmark 4: wall time per notebook of the last smoke report run (``make report``)."""
from __future__ import annotations

import json

from picseq_utils.paths import reports_dir


def notebook_wall_times(profile: str = "smoke") -> list[dict]:
    path = reports_dir(profile) / "run_state.json"
    if not path.is_file():
        return [{"benchmark": f"{profile} report wall time per notebook", "kind": "table", "rows": [],
                 "notes": f"no {path} yet: run `make report` first"}]
    state = json.loads(path.read_text())
    rows = [{"notebook": name, "status": info.get("status"), "seconds": info.get("seconds"),
             "reused": bool(info.get("reused"))} for name, info in state.get("notebooks", {}).items()]
    total = sum(r["seconds"] or 0 for r in rows if not r["reused"])
    return [{"benchmark": f"{profile} report wall time per notebook", "kind": "table", "rows": rows,
             "notes": f"from {path.name} (commit {state.get('commit')}, finished {state.get('finished')}); "
                      f"total {total:.0f} s for notebooks executed in that run"}]
