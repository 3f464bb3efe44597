import logging

import pytest
import torch
from torch import nn

from repgeom.runtime import seed_everything
from repgeom.training import DivergenceError, check_finite, fit, iterate_minibatches


def mse(model, x, y):
    return nn.functional.mse_loss(model(x), y)


def train(seed, lr=0.05, epochs=3, loss_fn=mse, **kw):
    gen = seed_everything(seed)
    x = torch.randn(64, 5, generator=gen)
    y = x @ torch.randn(5, 1, generator=gen) + 0.1 * torch.randn(64, 1, generator=gen)
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 1))
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    hist = fit(model, (x, y), loss_fn, opt, epochs=epochs, batch_size=10, generator=gen, **kw)
    return hist, [p.detach().clone() for p in model.parameters()]


def test_same_seed_bit_identical_different_seed_differs():
    h1, p1 = train(0)
    h2, p2 = train(0)
    h3, p3 = train(1)
    assert [h["loss"] for h in h1] == [h["loss"] for h in h2]
    assert all(torch.equal(a, b) for a, b in zip(p1, p2, strict=True))
    assert [h["loss"] for h in h1] != [h["loss"] for h in h3]
    assert not all(torch.equal(a, b) for a, b in zip(p1, p3, strict=True))


def test_history_logging_and_callback(caplog):
    calls = []

    def on_epoch_end(epoch, history):
        calls.append((epoch, len(history)))
        return {"val": float(epoch)} if epoch % 2 else None

    with caplog.at_level(logging.INFO, logger="repgeom.training"):
        hist, _ = train(0, epochs=3, on_epoch_end=on_epoch_end)
    assert [h["epoch"] for h in hist] == [1, 2, 3]
    assert set(hist[0]) == {"epoch", "loss", "time_s", "val"} and "val" not in hist[1]
    assert hist[-1]["loss"] < hist[0]["loss"]
    assert calls == [(1, 1), (2, 2), (3, 3)]
    msgs = [r.getMessage() for r in caplog.records]
    assert len(msgs) == 3 and msgs[0].startswith("epoch 1/3 loss ") and msgs[0].endswith(" s)")


def test_log_only_last_epoch(caplog):
    with caplog.at_level(logging.INFO, logger="repgeom.training"):
        train(0, epochs=3, log_every_epoch=False)
    assert [r.getMessage()[:9] for r in caplog.records] == ["epoch 3/3"]


def test_absurd_learning_rate_diverges():
    with pytest.raises(DivergenceError, match=r"epoch \d+ step \d+"):
        train(0, lr=1e6, epochs=50)


def test_nan_loss_names_epoch_and_step():
    state = {"n": 0}

    def loss_fn(model, x, y):
        state["n"] += 1
        loss = mse(model, x, y)
        return loss * float("nan") if state["n"] == 9 else loss  # 7 steps/epoch: epoch 2, step 2

    with pytest.raises(DivergenceError, match="epoch 2 step 2; lower the learning rate"):
        train(0, loss_fn=loss_fn)


def test_check_finite():
    check_finite(torch.tensor(1.0), epoch=1, step=1)
    with pytest.raises(DivergenceError, match="epoch 4 step 7"):
        check_finite(torch.tensor(float("inf")), epoch=4, step=7)


def test_minibatches_cover_each_index_once():
    gen = torch.Generator().manual_seed(0)
    epochs = [torch.cat(list(iterate_minibatches(23, 5, generator=gen))) for _ in range(2)]
    for idx in epochs:
        assert sorted(idx.tolist()) == list(range(23))
    assert not torch.equal(epochs[0], epochs[1])


def test_minibatches_sizes_and_drop_last():
    gen = torch.Generator().manual_seed(0)
    sizes = [len(b) for b in iterate_minibatches(23, 5, generator=gen)]
    assert sizes == [5, 5, 5, 5, 3]
    batches = list(iterate_minibatches(23, 5, generator=gen, drop_last=True))
    assert [len(b) for b in batches] == [5, 5, 5, 5]
    assert len(set(torch.cat(batches).tolist())) == 20


def test_minibatches_no_shuffle_and_device():
    gen = torch.Generator().manual_seed(0)
    (batch,) = iterate_minibatches(4, 8, generator=gen, shuffle=False, device="cpu")
    assert batch.tolist() == [0, 1, 2, 3] and batch.dtype == torch.long


def test_mismatched_tensors_rejected():
    model = nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="first dimension"):
        fit(
            model,
            (torch.zeros(4, 2), torch.zeros(3, 1)),
            mse,
            opt,
            epochs=1,
            batch_size=2,
            generator=torch.Generator(),
        )
