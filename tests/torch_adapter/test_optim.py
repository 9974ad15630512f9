"""Uniform hyper-parameter names over torch optimizers."""

import numpy as np
import pytest
import torch

from torch_adapter.optim import adamw, get_hyper, has_hyper, hyper_setter, set_hyper


def two_groups():
    return [
        {"params": [torch.zeros(2, requires_grad=True)]},
        {"params": [torch.zeros(1, requires_grad=True)]},
    ]


@pytest.mark.parametrize(
    "make, mom_key, sqr_key",
    [
        (lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9), "momentum", None),
        (lambda ps: torch.optim.Adam(ps, lr=0.1), ("betas", 0), ("betas", 1)),
        (lambda ps: torch.optim.AdamW(ps, lr=0.1), ("betas", 0), ("betas", 1)),
        (lambda ps: torch.optim.RMSprop(ps, lr=0.1, momentum=0.5), "momentum", "alpha"),
    ],
)
def test_uniform_names_map_to_torch_keys(make, mom_key, sqr_key):
    opt = make(two_groups())
    set_hyper(opt, "lr", [0.01, 0.02])
    assert [g["lr"] for g in opt.param_groups] == [0.01, 0.02]
    set_hyper(opt, "mom", 0.7)
    for g in opt.param_groups:
        assert (g[mom_key[0]][mom_key[1]] if isinstance(mom_key, tuple) else g[mom_key]) == 0.7
    assert get_hyper(opt, "mom") == [0.7, 0.7]
    assert has_hyper(opt, "sqr_mom") == (sqr_key is not None)
    if sqr_key is not None:
        set_hyper(opt, "sqr_mom", np.array([0.9, 0.95]))
        assert get_hyper(opt, "sqr_mom") == [0.9, 0.95]
    set_hyper(opt, "wd", 0.05)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.05, 0.05]
    if has_hyper(opt, "eps"):
        set_hyper(opt, "eps", 1e-6)
        assert get_hyper(opt, "eps") == [1e-6, 1e-6]


def test_betas_keep_the_other_entry():
    opt = torch.optim.Adam(two_groups(), betas=(0.9, 0.999))
    set_hyper(opt, "mom", [0.8, 0.85])
    assert [g["betas"] for g in opt.param_groups] == [(0.8, 0.999), (0.85, 0.999)]


def test_slice_and_numpy_row_values():
    opt = torch.optim.SGD(two_groups(), lr=0.1)
    set_hyper(opt, "lr", slice(1e-4, 1e-2))
    np.testing.assert_allclose(get_hyper(opt, "lr"), [1e-4, 1e-2])
    set_hyper(opt, "lr", np.array([1.0, 2.0])[1])  # numpy scalar
    assert get_hyper(opt, "lr") == [2.0, 2.0]
    set_hyper(opt, "lr", np.array([[0.3, 0.4]])[0])  # a table row
    assert get_hyper(opt, "lr") == [0.3, 0.4]


def test_tensor_lr_is_filled_in_place():
    lr = torch.tensor(0.1)
    opt = torch.optim.Adam(two_groups()[:1], lr=lr)
    t = opt.param_groups[0]["lr"]
    set_hyper(opt, "lr", 0.5)
    assert opt.param_groups[0]["lr"] is t and t.item() == 0.5


def test_unknown_name_names_optimizer_and_keys():
    opt = torch.optim.SGD(two_groups(), lr=0.1)
    with pytest.raises(ValueError, match=r"SGD has no hyper-parameter 'sqr_mom'.*momentum"):
        set_hyper(opt, "sqr_mom", 0.9)
    with pytest.raises(ValueError, match="SGD"):
        get_hyper(opt, "beta")


def test_bad_values():
    opt = torch.optim.SGD(two_groups(), lr=0.1)
    with pytest.raises(ValueError, match="3 values for 2 parameter groups"):
        set_hyper(opt, "lr", [0.1, 0.2, 0.3])
    with pytest.raises(TypeError, match="'fast'"):
        set_hyper(opt, "lr", "fast")


def test_raw_torch_key_and_custom_optimizer():
    class MyOpt(torch.optim.Optimizer):
        def __init__(self, params):
            super().__init__(params, dict(lr=0.1, momentum=0.0, weight_decay=0.0))

    opt = MyOpt(two_groups())
    set_hyper(opt, "mom", 0.9)
    assert get_hyper(opt, "momentum") == [0.9, 0.9]
    setter = hyper_setter(opt, "wd")
    setter([0.1, 0.2])
    assert get_hyper(opt, "wd") == [0.1, 0.2]


def test_default_opt_func():
    opt = adamw(two_groups(), lr=3e-3)
    assert isinstance(opt, torch.optim.AdamW)
    g = opt.param_groups[0]
    assert (g["lr"], g["betas"], g["eps"], g["weight_decay"]) == (3e-3, (0.9, 0.99), 1e-5, 0.01)


def test_hyper_setter_survives_optimizer_load_state_dict():
    """A setter made before ``opt.load_state_dict`` writes into the new param groups."""
    import torch

    from torch_adapter.optim import hyper_setter

    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    set_lr = hyper_setter(opt, "lr")
    opt.load_state_dict(opt.state_dict())
    set_lr(0.5)
    assert opt.param_groups[0]["lr"] == 0.5
