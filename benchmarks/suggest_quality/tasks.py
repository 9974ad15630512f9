"""The benchmark's training tasks: each a function ``build(seed) -> Learner`` plus a fit budget.

Small on purpose (one fit takes about a second on one CPU thread) and offline: scikit-learn's
bundled data sets, synthetic data, and text from Python's own standard library. They differ in
optimizer (AdamW / SGD with momentum), batch size, model size, normalisation and input scale, so
that their best learning rates spread over several decades.

Budgets are about 400 optimizer steps (200 for the GRU), four times the LR finder's 100: far
fewer and a fixed budget rewards any lr that learns fast, whatever the loss curve says.

A task's ground truth is ``fit_one_cycle(epochs, lr_max)``; its curve is ``lr_find()`` with the
defaults (1e-7 to 10, 100 iterations), both on a freshly built ``Learner`` for each seed.
"""

from __future__ import annotations

import functools
import math
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from torch_adapter import Learner
from torch_adapter.data import DataLoaders
from torch_adapter.optim import adamw


class Batches:
    """Mini-batches of ``(x, y)`` tensors; reshuffled every epoch from a seeded generator."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, bs: int, shuffle: bool, seed: int = 0):
        self.x, self.y, self.bs, self.shuffle = x, y, bs, shuffle
        self.gen = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.bs)

    def __iter__(self):
        n = len(self.x)
        idx = torch.randperm(n, generator=self.gen) if self.shuffle else torch.arange(n)
        for i in range(0, n, self.bs):
            j = idx[i : i + self.bs]
            yield self.x[j], self.y[j]


@dataclass(frozen=True)
class Task:
    name: str
    build: Callable[[int], Learner]
    epochs: int
    metric: str  # "accuracy" or "r2"
    description: str


# ------------------------------------------------------------------------------------ helpers


def _split(n: int, n_train: int, seed: int = 1234) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n)
    return perm[:n_train], perm[n_train:]


def _standardise(x: np.ndarray, tr: np.ndarray) -> np.ndarray:
    mu, sd = x[tr].mean(0), x[tr].std(0)
    return (x - mu) / np.where(sd > 0, sd, 1.0)


def accuracy(pred: torch.Tensor, targ: torch.Tensor) -> torch.Tensor:
    return (pred.argmax(-1) == targ).float().mean()


def r2(pred: torch.Tensor, targ: torch.Tensor) -> torch.Tensor:
    return 1 - ((pred - targ) ** 2).mean() / targ.var(unbiased=False)


def _mse(pred: torch.Tensor, targ: torch.Tensor) -> torch.Tensor:
    return ((pred - targ) ** 2).mean()


def _seq_ce(pred: torch.Tensor, targ: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(pred.reshape(-1, pred.shape[-1]), targ.reshape(-1))


def sgd(params, lr: float = 1e-3, mom: float = 0.9, wd: float = 0.0):
    return torch.optim.SGD(params, lr=lr, momentum=mom, weight_decay=wd)


def _learner(x, y, tr, va, model, loss, opt, bs, seed, metric) -> Learner:
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    dls = DataLoaders(Batches(x[tr], y[tr], bs, True, seed), Batches(x[va], y[va], len(va), False))
    learn = Learner(dls, model, loss, opt_func=opt, metrics=[metric])
    from torch_adapter.progress import ProgressCallback

    learn.remove_cb(ProgressCallback)
    return learn


def _mlp(n_in: int, widths: tuple[int, ...], n_out: int, norm: bool = False, act=nn.ReLU) -> nn.Sequential:
    layers: list[nn.Module] = []
    for w in widths:
        layers += [nn.Linear(n_in, w)] + ([nn.BatchNorm1d(w)] if norm else []) + [act()]
        n_in = w
    return nn.Sequential(*layers, nn.Linear(n_in, n_out))


# ------------------------------------------------------------------------------------- data


@functools.cache
def _sk(name: str) -> tuple[np.ndarray, np.ndarray]:
    import sklearn.datasets as ds

    data = getattr(ds, f"load_{name}")()
    return data.data.astype(np.float32), data.target


def _table(name: str, n_train: int, scale: float, standardise: bool = True):
    x, y = _sk(name)
    tr, va = _split(len(x), n_train)
    if standardise:
        x = _standardise(x, tr)
    return (x * scale).astype(np.float32), y, tr, va


def _classifier(name, n_train, scale, widths, opt, bs, norm=False, standardise=True, smoothing=0.0):
    """An MLP classifier on a scikit-learn table. ``smoothing``: label smoothing of the loss, which
    keeps the best loss of a (nearly) separable table away from 0, where loss ratios explode."""

    def build(seed: int) -> Learner:
        x, y, tr, va = _table(name, n_train, scale, standardise)
        torch.manual_seed(seed)
        model = _mlp(x.shape[1], widths, int(y.max()) + 1, norm)
        return _learner(x, y.astype(np.int64), tr, va, model, nn.CrossEntropyLoss(label_smoothing=smoothing), opt, bs, seed, accuracy)

    return build


def digits_cnn(seed: int, width: int = 8, bn: bool = False, opt=adamw, bs: int = 64) -> Learner:
    x, y = _sk("digits")
    tr, va = _split(len(x), 1200)
    x = (x / 16.0).reshape(-1, 1, 8, 8).astype(np.float32)
    torch.manual_seed(seed)
    norm = (lambda c: nn.BatchNorm2d(c)) if bn else (lambda c: nn.Identity())
    model = nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1), norm(width), nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, padding=1, stride=2), norm(2 * width), nn.ReLU(),
        nn.Flatten(), nn.Linear(2 * width * 16, 10),
    )  # fmt: skip
    return _learner(x, y.astype(np.int64), tr, va, model, nn.CrossEntropyLoss(), opt, bs, seed, accuracy)


def diabetes(seed: int, opt=adamw, widths=(32,), bs: int = 32, scale: float = 1.0, standardise=True) -> Learner:
    x, y = _sk("diabetes")
    tr, va = _split(len(x), 300)
    if standardise:
        x = _standardise(x, tr)
    x = (x * scale).astype(np.float32)
    y = ((y - y[tr].mean()) / y[tr].std()).astype(np.float32)[:, None]
    torch.manual_seed(seed)
    return _learner(x, y, tr, va, _mlp(10, widths, 1), _mse, opt, bs, seed, r2)


@functools.cache
def _teacher_data(d: int = 20, n: int = 2500, noise: float = 0.3):
    g = torch.Generator().manual_seed(99)
    x = torch.randn(n, d, generator=g)
    w1, w2 = torch.randn(d, 32, generator=g) / math.sqrt(d), torch.randn(32, 1, generator=g) / math.sqrt(32)
    y = torch.tanh(x @ w1) @ w2 * 3
    y = y + noise * y.std() * torch.randn(n, 1, generator=g)
    return x.numpy(), ((y - y.mean()) / y.std()).numpy()


def teacher_student(seed: int, opt=adamw, widths=(64, 64), bs: int = 64, scale: float = 1.0) -> Learner:
    x, y = _teacher_data()
    tr, va = np.arange(2000), np.arange(2000, 2500)
    torch.manual_seed(seed)
    return _learner(x * scale, y, tr, va, _mlp(x.shape[1], widths, 1, act=nn.Tanh), _mse, opt, bs, seed, r2)


@functools.cache
def _linear_data(d: int = 30, n: int = 1500):
    g = torch.Generator().manual_seed(7)
    x = torch.randn(n, d, generator=g)
    y = x @ torch.randn(d, 1, generator=g) / math.sqrt(d) + 1.0 * torch.randn(n, 1, generator=g)
    return x.numpy(), y.numpy()


def noisy_regression(seed: int, opt=sgd, bs: int = 32, scale: float = 10.0) -> Learner:
    x, y = _linear_data()
    tr, va = np.arange(1000), np.arange(1000, 1500)
    torch.manual_seed(seed)
    return _learner((x * scale).astype(np.float32), y, tr, va, nn.Linear(x.shape[1], 1), _mse, opt, bs, seed, r2)


@functools.cache
def _parity_data(n_bits: int = 12, k: int = 3, n: int = 3000, flip: float = 0.1):
    """``k``-sparse parity of ``n_bits`` +-1 bits, each label flipped with probability ``flip``
    (train and validation alike: the best loss is about the binary entropy of ``flip``, not 0)."""
    g = torch.Generator().manual_seed(5)
    x = torch.randint(0, 2, (n, n_bits), generator=g).float() * 2 - 1
    y = (x[:, :k].prod(1) > 0).long()
    y = torch.where(torch.rand(n, generator=g) < flip, 1 - y, y)
    return x.numpy(), y.numpy()


def sparse_parity(seed: int, opt=adamw, widths=(128,), bs: int = 32) -> Learner:
    x, y = _parity_data()
    tr, va = np.arange(2000), np.arange(2000, 3000)
    torch.manual_seed(seed)
    return _learner(x, y, tr, va, _mlp(x.shape[1], widths, 2), nn.CrossEntropyLoss(), opt, bs, seed, accuracy)


# ----------------------------------------------------------------------------- char-level LM

_STDLIB_FILES = ("textwrap.py", "argparse.py", "calendar.py", "fractions.py")  # train: first 3, valid: last


@functools.cache
def _text_ids() -> tuple[np.ndarray, np.ndarray]:
    root = Path(sysconfig.get_paths()["stdlib"])
    texts = [(root / f).read_text(encoding="utf-8", errors="replace") for f in _STDLIB_FILES]
    def ids(t: str) -> np.ndarray:  # printable ASCII -> 1..95, anything else (tabs, newlines...) -> 0
        a = np.frombuffer(t.encode("ascii", "replace"), dtype=np.uint8).astype(np.int64) - 31
        return np.where((a >= 1) & (a <= 95), a, 0)
    return ids("".join(texts[:3])), ids(texts[3])


def _windows(ids: np.ndarray, ctx: int, n: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    starts = np.arange(n) * stride
    idx = starts[:, None] + np.arange(ctx + 1)
    w = ids[idx]
    return w[:, :-1], w[:, 1:]


class CharMLP(nn.Module):
    def __init__(self, ctx: int, emb: int = 16, hidden: int = 128, vocab: int = 96):
        super().__init__()
        self.emb, self.body = nn.Embedding(vocab, emb), _mlp(ctx * emb, (hidden,), vocab)

    def forward(self, x):
        return self.body(self.emb(x).flatten(1))


class CharGRU(nn.Module):
    def __init__(self, emb: int = 16, hidden: int = 64, vocab: int = 96):
        super().__init__()
        self.emb, self.rnn, self.head = nn.Embedding(vocab, emb), nn.GRU(emb, hidden, batch_first=True), nn.Linear(hidden, vocab)

    def forward(self, x):
        return self.head(self.rnn(self.emb(x))[0])


def char_mlp(seed: int, opt=adamw, bs: int = 64, ctx: int = 12, hidden: int = 128) -> Learner:
    train, valid = _text_ids()
    xt, yt = _windows(train, ctx, 6000, 7)
    xv, yv = _windows(valid, ctx, 1500, 7)
    x, y = np.concatenate([xt, xv]), np.concatenate([yt[:, -1], yv[:, -1]])
    tr, va = np.arange(len(xt)), np.arange(len(xt), len(x))
    torch.manual_seed(seed)
    return _learner(x, y, tr, va, CharMLP(ctx, hidden=hidden), nn.CrossEntropyLoss(), opt, bs, seed, accuracy)


def char_gru(seed: int, opt=sgd, bs: int = 32, seq: int = 32) -> Learner:
    train, valid = _text_ids()
    xt, yt = _windows(train, seq, 800, seq)
    xv, yv = _windows(valid, seq, 150, seq)
    x, y = np.concatenate([xt, xv]), np.concatenate([yt, yv])
    tr, va = np.arange(len(xt)), np.arange(len(xt), len(x))
    torch.manual_seed(seed)
    return _learner(x, y, tr, va, CharGRU(), _seq_ce, opt, bs, seed, accuracy)


# ---------------------------------------------------------------------------------- the suite

P = functools.partial
TASKS: list[Task] = [
    Task("digits_cnn_adamw", P(digits_cnn, width=8, opt=adamw, bs=64), 20, "accuracy",
         "digits as 8x8 images, 2-conv CNN, AdamW, bs 64"),
    Task("digits_cnn_bn_sgd", P(digits_cnn, width=16, bn=True, opt=sgd, bs=32), 10, "accuracy",
         "digits as images, wider CNN with BatchNorm, SGD+momentum, bs 32"),
    Task("digits_mlp_raw_sgd", _classifier("digits", 1200, 1.0, (64,), sgd, 64, standardise=False), 20, "accuracy",
         "digits as a table of raw pixel values (0..16, not normalised), MLP, SGD+momentum, bs 64"),
    Task("digits_mlp_bs256_adamw", _classifier("digits", 1200, 1.0, (256, 256), adamw, 256), 80, "accuracy",
         "digits as a standardised table, MLP 2x256, AdamW, large batch (256)"),
    Task("wine_mlp_adamw", _classifier("wine", 120, 1.0, (32,), adamw, 16, smoothing=0.1), 50, "accuracy",
         "wine table, standardised, 1 hidden layer, AdamW, bs 16, label smoothing 0.1"),
    Task("wine_linear_x30_sgd", _classifier("wine", 120, 30.0, (), sgd, 8, smoothing=0.1), 25, "accuracy",
         "wine table, standardised then x30, linear model, SGD+momentum, bs 8, label smoothing 0.1"),
    Task("cancer_deep_bn_sgd", _classifier("breast_cancer", 400, 1.0, (64, 64, 64), sgd, 32, norm=True, smoothing=0.1),
         30, "accuracy", "breast-cancer table, 3 hidden layers with BatchNorm, SGD+momentum, bs 32, label smoothing 0.1"),
    Task("cancer_logistic_sgd", _classifier("breast_cancer", 400, 1.0, (), sgd, 16, smoothing=0.1), 16, "accuracy",
         "breast-cancer table, standardised, logistic regression, SGD+momentum, bs 16, label smoothing 0.1"),
    Task("cancer_raw_adamw", _classifier("breast_cancer", 400, 1.0, (32,), adamw, 64, standardise=False, smoothing=0.1),
         60, "accuracy", "breast-cancer table, raw features (up to ~4000, not normalised), MLP, AdamW, bs 64, label smoothing 0.1"),
    Task("diabetes_mlp_adamw", P(diabetes, opt=adamw, widths=(32,), bs=32), 40, "r2",
         "diabetes regression, standardised, 1 hidden layer, AdamW, bs 32"),
    Task("diabetes_linear_sklearnscale_sgd", P(diabetes, opt=sgd, widths=(), bs=64, standardise=False), 80, "r2",
         "diabetes regression, scikit-learn's own feature scale (std ~0.05), linear, SGD+momentum, bs 64"),
    Task("diabetes_deep_sgd", P(diabetes, opt=sgd, widths=(64, 64, 64), bs=16), 20, "r2",
         "diabetes regression, standardised, 3 hidden layers, SGD+momentum, bs 16"),
    Task("teacher_student_adamw", P(teacher_student, opt=adamw, widths=(64, 64), bs=64), 12, "r2",
         "teacher-student tanh MLP (20 inputs), student 2x64, AdamW, bs 64"),
    Task("teacher_student_wide_sgd", P(teacher_student, opt=sgd, widths=(256,), bs=128), 25, "r2",
         "teacher-student, one wide layer (256), SGD+momentum, bs 128"),
    Task("noisy_linear_x10_sgd", P(noisy_regression, opt=sgd, bs=32, scale=10.0), 12, "r2",
         "noisy linear regression (SNR 1), inputs x10, SGD+momentum, bs 32"),
    Task("sparse_parity_adamw", P(sparse_parity, opt=adamw, widths=(128,), bs=32), 6, "accuracy",
         "3-sparse parity of 12 +-1 bits, 10% of labels flipped, MLP 128, AdamW, bs 32"),
    Task("char_mlp_adamw", P(char_mlp, opt=adamw, bs=64), 4, "accuracy",
         "char-level LM on stdlib source (12-char context MLP), AdamW, bs 64"),
    Task("char_mlp_sgd", P(char_mlp, opt=sgd, bs=128, hidden=256), 8, "accuracy",
         "char-level LM on stdlib source (12-char context MLP, 256 hidden), SGD+momentum, bs 128"),
    Task("char_gru_sgd", P(char_gru, opt=sgd, bs=32), 8, "accuracy",
         "char-level LM on stdlib source, GRU(64) over 32-char sequences, SGD+momentum, bs 32"),
]
TASKS_BY_NAME = {t.name: t for t in TASKS}
