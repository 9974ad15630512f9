"""A small pair of data loaders: what a :class:`~torch_adapter.learner.Learner` trains on.

Any object with ``train`` and ``valid`` iterables of batches works as ``dls``; this class adds
fastai's ``one_batch`` and indexing.

>>> import torch
>>> from torch.utils.data import DataLoader, TensorDataset
>>> ds = TensorDataset(torch.arange(8.0)[:, None], torch.zeros(8, 1))
>>> dls = DataLoaders(DataLoader(ds, batch_size=4), DataLoader(ds, batch_size=4))
>>> len(dls.train), dls.one_batch()[0].shape
(2, torch.Size([4, 1]))
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["DataLoaders"]


class DataLoaders:
    """A ``train`` and a ``valid`` iterable of batches (usually torch ``DataLoader``\\ s).

    ``valid`` may be ``None`` (no validation). ``dls[0]`` is ``train``, ``dls[1]`` ``valid``.

    >>> DataLoaders([(1, 2)], None)[0]
    [(1, 2)]
    """

    def __init__(self, train: Iterable, valid: Iterable | None = None):
        self.train, self.valid = train, valid

    def __getitem__(self, i: int) -> Iterable | None:
        return (self.train, self.valid)[i]

    def one_batch(self):
        """The first batch of ``train``.

        >>> DataLoaders([("x", "y")]).one_batch()
        ('x', 'y')
        """
        for batch in self.train:
            return batch
        raise ValueError(f"the training data is empty: {self.train!r}")

    def __repr__(self) -> str:
        return f"DataLoaders(train={self.train!r}, valid={self.valid!r})"
