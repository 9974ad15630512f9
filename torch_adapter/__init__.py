"""torch_adapter: a thin PyTorch layer over schedcore (Learner, callbacks, schedulers).

>>> from torch_adapter import synth_learner
>>> learn = synth_learner(lr=1e-2)
>>> with learn.no_logging(): learn.fit_one_cycle(1)
>>> len(learn.recorder.hps["lr"])
10

It needs PyTorch (and tqdm): ``pip install "schedcore[torch]"``; without them importing it raises
an ``ImportError`` that says so.
"""

try:
    import torch as _torch  # noqa: F401
    import tqdm as _tqdm  # noqa: F401
except ImportError as _missing:
    raise ImportError(
        f"torch_adapter needs PyTorch and tqdm ({_missing.name} is missing): "
        'pip install "schedcore[torch]" (install torch first from the wheel for your platform)',
        name=_missing.name,
    ) from _missing

from .callback import (
    BATCH_EVENTS,
    EVENTS,
    Callback,
    CancelBackwardException,
    CancelBatchException,
    CancelEpochException,
    CancelFitException,
    CancelStepException,
    CancelTrainException,
    CancelValidException,
)
from .compile import CompiledStep, CompileStep, compile_ready
from .data import DataLoaders
from .distributed import (  # adds Learner.distrib_ctx
    DistributedTrainer,
    distrib_ctx,
    num_distrib,
    rank_distrib,
)
from .learner import Learner, noop, trainable_params
from .lr_finder import LRFinder, TrainingState, diverged
from .lr_scheduler import TableScheduler
from .opt_funcs import SGD, Adam, RMSProp
from .optim import (
    HYPER_NAMES,
    TableWriter,
    adamw,
    get_hyper,
    has_hyper,
    hyper_setter,
    set_hyper,
    tensor_hypers,
)
from .progress import ProgressCallback
from .recorder import Recorder, accuracy
from .schedule import ParamScheduler
from .testing import RegModel, synth_dbunch, synth_learner

__all__ = [
    "BATCH_EVENTS",
    "EVENTS",
    "Callback",
    "CancelBackwardException",
    "CancelBatchException",
    "CancelEpochException",
    "CancelFitException",
    "CancelStepException",
    "CancelTrainException",
    "CancelValidException",
    "CompiledStep",
    "CompileStep",
    "compile_ready",
    "DataLoaders",
    "DistributedTrainer",
    "distrib_ctx",
    "num_distrib",
    "rank_distrib",
    "Learner",
    "noop",
    "trainable_params",
    "LRFinder",
    "TrainingState",
    "diverged",
    "TableScheduler",
    "SGD",
    "Adam",
    "RMSProp",
    "HYPER_NAMES",
    "adamw",
    "get_hyper",
    "has_hyper",
    "hyper_setter",
    "set_hyper",
    "TableWriter",
    "tensor_hypers",
    "ProgressCallback",
    "Recorder",
    "accuracy",
    "ParamScheduler",
    "RegModel",
    "synth_dbunch",
    "synth_learner",
]
