"""fastai code, ported by changing imports only: the Learner examples of fastai's
``callback/schedule`` documentation page (the seed document), run against torch_adapter.

In fastai these start with ``from fastai.test_utils import *``; here the names come from
schedcore and torch_adapter. Everything below the imports is fastai's example code, unchanged
apart from indentation. Plots go to the non-interactive Agg backend unless MPLBACKEND is set.

Run: .venv/bin/python examples/fastai_port.py
"""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

from schedcore import SchedCos, SchedExp, SchedLin, combined_cos, minimum, slide, steep, valley  # noqa: E402
from torch_adapter import LRFinder, ParamScheduler  # noqa: E402
from torch_adapter.testing import L, range_of, synth_learner, test_close, test_eq  # noqa: E402

# --- ParamScheduler
learn = synth_learner()
sched = {'lr': SchedLin(1e-3, 1e-2)}
learn.fit(1, cbs=ParamScheduler(sched))
n = len(learn.dls.train)
test_close(learn.recorder.hps['lr'], [1e-3 + (1e-2-1e-3) * i/n for i in range(n)])

# --- Learner.fit_one_cycle
learn = synth_learner(lr=1e-2)
xb,yb = learn.dls.one_batch()
init_loss = learn.loss_func(learn.model(xb), yb)
learn.fit_one_cycle(2)
xb,yb = learn.dls.one_batch()
final_loss = learn.loss_func(learn.model(xb), yb)
assert final_loss < init_loss

lrs,moms = learn.recorder.hps['lr'],learn.recorder.hps['mom']
test_close(lrs, [combined_cos(0.25,1e-2/25,1e-2,1e-7)(i/20) for i in range(20)])
test_close(moms, [combined_cos(0.25,0.95,0.85,0.95)(i/20) for i in range(20)])

learn = synth_learner()
learn.fit_one_cycle(2)
learn.recorder.plot_sched()

# --- Learner.fit_flat_cos
learn = synth_learner()
learn.fit_flat_cos(2)
learn.recorder.plot_sched()

# --- Learner.fit_sgdr
learn = synth_learner()
with learn.no_logging(): learn.fit_sgdr(3, 1)  # noqa: E701
test_eq(learn.n_epoch, 7)
iters = [k * len(learn.dls.train) for k in [0,1,3,7]]
for i in range(3):
    n = iters[i+1]-iters[i]
    #The start of a cycle can be mixed with the 0 of the previous cycle with rounding errors, so we test at +1
    test_close(learn.recorder.lrs[iters[i]+1:iters[i+1]], [SchedCos(learn.lr, 0)(k/n) for k in range(1,n)])
learn.recorder.plot_sched()

# --- Learner.fine_tune
learn.fine_tune(1)

# --- LRFinder
with tempfile.TemporaryDirectory() as d:
    learn = synth_learner(path=Path(d))
    init_a,init_b = learn.model.a,learn.model.b
    with learn.no_logging(): learn.fit(20, cbs=LRFinder(num_it=100))  # noqa: E701
    assert len(learn.recorder.lrs) <= 100
    test_eq(len(learn.recorder.lrs), len(learn.recorder.losses))
    #Check stop if diverge
    if len(learn.recorder.lrs) < 100: assert learn.recorder.losses[-1] > 4 * min(learn.recorder.losses)  # noqa: E701
    #Test schedule
    test_eq(learn.recorder.lrs, [SchedExp(1e-7, 10)(i/100) for i in range_of(learn.recorder.lrs)])
    #No validation data
    test_eq([len(v) for v in learn.recorder.values], [1 for _ in range_of(learn.recorder.values)])
    #Model loaded back properly
    test_eq(learn.model.a, init_a)
    test_eq(learn.model.b, init_b)
    test_eq(learn.opt.state_dict()['state'], {})  # torch's format; fastai's optimizer shows [{}, {}]

# --- Learner.lr_find
with tempfile.TemporaryDirectory() as d:
    learn = synth_learner(path=Path(d))
    weights_pre_lr_find = L(learn.model.parameters())
    lr_min, lr_steep, lr_valley, lr_slide = learn.lr_find(suggest_funcs=(minimum, steep, valley, slide))
    weights_post_lr_find = L(learn.model.parameters())
    test_eq(weights_pre_lr_find, weights_post_lr_find)
    print(f"Minimum/10:\t{lr_min:.2e}\nSteepest point:\t{lr_steep:.2e}\nLongest valley:\t{lr_valley:.2e}\nSlide interval:\t{lr_slide:.2e}")

print("fastai's callback.schedule Learner examples ran unchanged (imports aside)")
