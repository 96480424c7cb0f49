"""A notebook's map, as a script (functions in ``__main__`` travel by value, as a notebook cell's do):
``python tests/map_script.py PROJECT OUT.json [EPOCHS] [SLEEP]``. tests/test_parallel.py runs it in this process's
mode (PICSEQ_WORKERS unset) and on Ray workers, and kills a worker mid-fit."""
import json
import os
import sys
import time
from pathlib import Path

import torch
from torch import nn

from picseq_utils import notebook as nb
from picseq_utils import paths
from picseq_utils.params import notebook_defaults
from picseq_utils.train import FIT_LOG, fit

paths.ROOT_OVERRIDE = Path(sys.argv[1])
OUT = Path(sys.argv[2])
EPOCHS = int(sys.argv[3]) if len(sys.argv) > 3 else 3
SLEEP = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0

nb.begin(globals())
globals().update(notebook_defaults(paths.project_root() / "notebooks" / "04_vit_vs_resnet_cifar10.ipynb"))
device = "cpu"
run = nb.setup("04_vit_vs_resnet_cifar10", globals(), quiet=True)

torch.manual_seed(0)
X = torch.randn(256, 8)
Y = (X[:, 0] + 0.5 * X[:, 1] > 0).long()
batches = list(zip(X.split(32), Y.split(32)))
ATTEMPTS = paths.project_root() / "attempts"


def pause(epoch, row, model):
    time.sleep(SLEEP)  # time for a test to kill this worker between two checkpoints


def train_one(lr):
    (ATTEMPTS / f"{lr:g}").mkdir(parents=True, exist_ok=True)
    (ATTEMPTS / f"{lr:g}" / str(os.getpid())).touch()
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 2))  # item-seeded
    drawn = torch.rand(1).item()
    result = fit(model, batches, epochs=EPOCHS, lr=lr, device="cpu", amp="off", progress=False,
                 desc=f"lr{lr:g}", checkpoint_dir=run.checkpoint_dir(f"lr{lr:g}"), on_epoch_end=pause)
    run.record(f"final_loss_lr{lr:g}", result.final["train_loss"], drawn=drawn)
    return {"losses": result.history["train_loss"].tolist(), "drawn": drawn,
            "weights": [p.detach().sum().item() for p in result.model.parameters()],
            "resumed_from": result.resumed_from}


before = torch.rand(1).item()
results = run.map(train_one, [0.01, 0.03, 0.1, 0.3], desc="lr")
after = torch.rand(1).item()
metrics = [{k: m[k] for k in ("name", "value", "context")} for m in run.writer.content["metrics"]]
fits = [{k: v for k, v in f.items() if k not in ("seconds", "resumed_from")} for f in FIT_LOG]
OUT.write_text(json.dumps({"results": results, "before": before, "after": after, "metrics": metrics,
                           "fits": fits, "pid": os.getpid()}))
