import logging
import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from repgeom.runtime import seed_everything
from repgeom.training import (
    LOSS_FACTOR,
    MAX_ABS_PARAMETER,
    DivergenceError,
    DivergenceGuard,
    Progress,
    TrainRun,
    TrainSettings,
    build_optimizer,
    fit,
    iterate_minibatches,
    train_model,
    training_args,
)


def mse(model, x, y):
    return nn.functional.mse_loss(model(x), y)


def train(seed, lr=0.05, epochs=3, loss_fn=mse, optimizer=torch.optim.SGD, **kw):
    gen = seed_everything(seed)
    x = torch.randn(64, 5, generator=gen)
    y = x @ torch.randn(5, 1, generator=gen) + 0.1 * torch.randn(64, 1, generator=gen)
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 1))
    opt = optimizer(model.parameters(), lr=lr)
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
    msgs = [r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch")]
    assert len(msgs) == 3 and msgs[0].startswith("epoch 1/3 loss ") and msgs[0].endswith(" s)")


def test_log_only_last_epoch(caplog):
    with caplog.at_level(logging.INFO, logger="repgeom.training"):
        train(0, epochs=3, log_every_epoch=False)
    assert [r.getMessage()[:9] for r in caplog.records if "epoch" in r.getMessage()[:5]] == [
        "epoch 3/3"
    ]


def test_finite_divergence_stops_the_run():
    # Adam at lr 1e6 keeps the loss finite (~1e13 after 3 epochs): before the guard
    # the run finished and returned those weights.
    with pytest.raises(
        DivergenceError, match=r"loss blew up .* at epoch 1 step 2; .*\(lr = 1e\+06\)"
    ):
        train(0, lr=1e6, epochs=3, optimizer=torch.optim.Adam)
    with pytest.raises(DivergenceError, match=r"at epoch 1 step \d+; .*\(lr = 1e\+30\)"):
        train(0, lr=1e30, epochs=3, optimizer=torch.optim.Adam)


def test_nan_loss_names_epoch_and_step():
    state = {"n": 0}

    def loss_fn(model, x, y):
        state["n"] += 1
        loss = mse(model, x, y)
        return loss * float("nan") if state["n"] == 9 else loss  # 7 steps/epoch: epoch 2, step 2

    with pytest.raises(DivergenceError, match="nan/inf at epoch 2 step 2; lower the learning rate"):
        train(0, loss_fn=loss_fn)


def test_finite_loss_blow_up_names_epoch_step_and_setting():
    state = {"n": 0}

    def loss_fn(model, x, y):
        state["n"] += 1
        loss = mse(model, x, y)
        return loss * 1e5 if state["n"] == 10 else loss  # epoch 2, step 3

    with pytest.raises(DivergenceError) as err:
        train(0, loss_fn=loss_fn, setting="stage.train.lr")
    msg = str(err.value)
    assert "loss blew up" in msg and "at epoch 2 step 3;" in msg
    assert "lower the learning rate (stage.train.lr = 0.05)" in msg


def negative_cosine(model, x, y):
    """Bounded in [-1, 1] and negative once learning starts: it cannot blow up."""
    return -nn.functional.cosine_similarity(model(x), y, dim=0).mean()


def test_exploding_weights_stop_a_run_whose_loss_stays_bounded():
    gen = seed_everything(0)
    x, y = torch.randn(64, 5, generator=gen), torch.randn(64, 1, generator=gen)
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e6)
    with pytest.raises(DivergenceError, match=r"weights exploded \(max \|w\| = .* > 1e\+04\)"):
        fit(model, (x, y), negative_cosine, opt, epochs=2, batch_size=64, generator=gen)


def test_normal_runs_do_not_trip_the_guard(caplog):
    # A decreasing positive loss (MSE) and a negative, bounded one, at ordinary lrs.
    hist, params = train(0, lr=0.05, epochs=20)
    assert hist[-1]["loss"] < hist[0]["loss"] / 2
    assert max(p.abs().max() for p in params) < MAX_ABS_PARAMETER
    with caplog.at_level(logging.INFO, logger="repgeom.training"):
        hist, _ = train(0, lr=0.05, epochs=20, loss_fn=negative_cosine)
    assert hist[-1]["loss"] < hist[0]["loss"] < 0
    (line,) = [r.getMessage() for r in caplog.records if "divergence guard" in r.getMessage()]
    assert f"(limit {LOSS_FACTOR:g})" in line


def test_guard_rule_for_negative_and_near_zero_losses():
    """loss - first > 100 x max(|first|, 1): relative for large losses, absolute near
    zero; a fall, however large, is not a divergence."""
    guard = DivergenceGuard([], setting="x.lr")
    guard.check_loss(torch.tensor(-0.01), epoch=1, step=1)  # near zero: scale 1
    for value in (-5.0, -20.0, -500.0, 99.0):  # a NeuralEF-like fall, then a rise of 99
        guard.check_loss(torch.tensor(value), epoch=1, step=2)
    with pytest.raises(DivergenceError, match="epoch 3 step 4; lower the learning rate \\(x.lr\\)"):
        guard.check_loss(torch.tensor(100.5), epoch=3, step=4)

    guard = DivergenceGuard([])
    guard.check_loss(torch.tensor(-50.0), epoch=1, step=1)  # scale |first| = 50
    guard.check_loss(torch.tensor(4900.0), epoch=1, step=2)
    with pytest.raises(DivergenceError, match="loss blew up to 5000 from -50"):
        guard.check_loss(torch.tensor(5000.0), epoch=1, step=3)

    guard = DivergenceGuard([])
    guard.check_loss(torch.tensor(2.3), epoch=1, step=1)
    guard.check_loss(torch.tensor(0.0), epoch=1, step=2)  # a positive loss falling to 0
    guard.check_loss(torch.tensor(200.0), epoch=1, step=3)  # a spike of 86 x first
    with pytest.raises(DivergenceError, match="loss blew up to 1e\\+07 .* at epoch 2 step 1;"):
        guard.check_loss(torch.tensor(1e7), epoch=2, step=1)


def test_guard_parameters():
    w = torch.nn.Parameter(torch.ones(3))
    guard = DivergenceGuard([w], setting="a.lr", lr=1e-3)
    assert guard.check_parameters(epoch=1, step=1) == 1.0
    with torch.no_grad():
        w[1] = 2e4
    with pytest.raises(DivergenceError, match=r"max \|w\| = 2e\+04 > 1e\+04\) at epoch 2 step 5"):
        guard.check_parameters(epoch=2, step=5)
    with torch.no_grad():
        w[1] = float("inf")
    with pytest.raises(DivergenceError, match="weight became nan/inf .*\\(a.lr = 0.001\\)"):
        guard.check_parameters(epoch=2, step=6)
    with pytest.raises(DivergenceError, match="loss became nan/inf at epoch 4 step 7"):
        guard.check_loss(torch.tensor(float("inf")), epoch=4, step=7)


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_progress_logs_every_tenth_with_elapsed_and_eta(caplog):
    clock = FakeClock()
    progress = Progress(25, what="step", logger=logging.getLogger("t"), clock=clock)
    logged = []
    with caplog.at_level(logging.INFO, logger="t"):
        for i in range(1, 26):
            clock.now += 2.0  # 2 s a step
            if progress.advance(detail=f"loss {i}"):
                logged.append(i)
    assert logged == [3, 5, 8, 10, 13, 15, 18, 20, 23, 25]  # ceil(k * 25 / 10)
    msgs = [r.getMessage() for r in caplog.records]
    assert msgs[0] == "step 3/25 (12%), elapsed 6.0 s, ETA 44.0 s, loss 3"
    assert msgs[3] == "step 10/25 (40%), elapsed 20.0 s, ETA 30.0 s, loss 10"
    assert msgs[-1] == "step 25/25 (100%), elapsed 50.0 s, ETA 0.0 s, loss 25"
    assert not progress.advance()  # past the end: silent


def test_progress_few_units_and_big_advances():
    clock = FakeClock()
    progress = Progress(3, clock=clock)
    assert [progress.advance() for _ in range(3)] == [True, True, True]
    progress = Progress(100, clock=clock)
    assert progress.advance(35) and progress.done == 35  # crosses 10, 20, 30: one line
    assert not progress.advance(4) and progress.advance(1)  # the next line at 40
    with pytest.raises(ValueError, match="total >= 1"):
        Progress(0)


def test_fit_logs_progress_every_tenth_of_its_steps(caplog):
    with caplog.at_level(logging.INFO, logger="repgeom.training"):
        train(0, epochs=3, log_every_epoch=False)  # 3 epochs x 7 steps
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("step ")]
    done = [int(m.split()[1].split("/")[0]) for m in lines]
    assert done == [3, 5, 7, 9, 11, 13, 15, 17, 19, 21]
    assert all("/21 (" in m and "elapsed" in m and "ETA" in m and "loss" in m for m in lines)


def test_shared_progress_spans_several_fits(caplog):
    progress = Progress(2 * 21, logger=logging.getLogger("shared"))
    with caplog.at_level(logging.INFO, logger="shared"):
        train(0, epochs=3, progress=progress)
        train(1, epochs=3, progress=progress)
    lines = [r.getMessage() for r in caplog.records if r.name == "shared"]
    assert len(lines) == 10 and lines[-1].startswith("step 42/42 (100%)")


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


def regression_data(seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(50, 5, generator=gen)
    return x, x @ torch.randn(5, 1, generator=gen)


def fresh_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 1))


def hand_written_loop(settings, schedule_of):
    """What train_model must do, spelled out: one CPU permutation per epoch, zero_grad,
    loss, backward, step per minibatch, the schedule stepped once after each epoch."""
    x, y = regression_data()
    model = fresh_model()
    kind = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[settings.optimizer]
    opt = kind(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    schedule = schedule_of(opt)
    gen = torch.Generator().manual_seed(1)
    lrs = []
    for _ in range(settings.epochs):
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), settings.batch_size):
            idx = order[start : start + settings.batch_size]
            opt.zero_grad(set_to_none=True)
            mse(model, x[idx], y[idx]).backward()
            opt.step()
        lrs.append(opt.param_groups[0]["lr"])
        if schedule is not None:
            schedule.step()
    return list(model.parameters()), lrs


SCHEDULED = [
    (TrainSettings(4, 16, 0.01), lambda opt: None),
    (
        TrainSettings(4, 16, 0.01, weight_decay=0.1, schedule="cosine"),
        lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4),
    ),
    (
        TrainSettings(
            5,
            16,
            0.01,
            optimizer="adamw",
            weight_decay=0.05,
            schedule="warmup_cosine",
            warmup_epochs=2,
        ),
        lambda opt: torch.optim.lr_scheduler.LambdaLR(
            opt,
            lambda e: (e + 1) / 3 if e < 2 else 0.5 * (1 + math.cos(math.pi * (e - 2) / 3)),
        ),
    ),
]


@pytest.mark.parametrize(("settings", "schedule_of"), SCHEDULED)
def test_train_model_matches_a_hand_written_loop(settings, schedule_of):
    x, y = regression_data()
    model = fresh_model()
    gen = torch.Generator().manual_seed(1)
    history = train_model(model, mse, (x, y), settings, generator=gen)
    expected, lrs = hand_written_loop(settings, schedule_of)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), expected, strict=True))
    if settings.schedule == "constant":
        assert "lr" not in history[0]
    else:  # the rate each epoch trained with
        assert [h["lr"] for h in history] == lrs and len(set(lrs)) == len(lrs)


def test_build_optimizer_honours_kind_lr_and_weight_decay():
    params = list(fresh_model().parameters())
    opt, schedule = build_optimizer(params, TrainSettings(3, 8, 0.02, weight_decay=0.1))
    assert type(opt) is torch.optim.Adam and schedule is None
    assert opt.defaults["lr"] == 0.02 and opt.defaults["weight_decay"] == 0.1
    settings = TrainSettings(3, 8, 0.02, optimizer="adamw", schedule="cosine")
    opt, schedule = build_optimizer(params, settings)
    assert type(opt) is torch.optim.AdamW and opt.defaults["weight_decay"] == 0.0
    assert isinstance(schedule, torch.optim.lr_scheduler.CosineAnnealingLR)
    assert schedule.T_max == 3


def test_train_settings_reject_unknown_kinds():
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'"):
        TrainSettings(1, 8, 0.1, optimizer="sgd")
    with pytest.raises(ValueError, match="unknown schedule 'step'"):
        TrainSettings(1, 8, 0.1, schedule="step")


def test_train_model_divergence_names_the_configured_key():
    x, y = regression_data()

    def blow_up(model, xb, yb):
        return mse(model, xb, yb) * (1e9 if blow_up.calls else 1)

    blow_up.calls = 0

    def count(epoch, history):
        blow_up.calls += 1

    settings = TrainSettings(3, 50, 0.05, setting="stage.train.lr")
    with pytest.raises(DivergenceError, match=r"at epoch 2 step 1; .*\(stage.train.lr = 0.05\)"):
        train_model(
            fresh_model(),
            blow_up,
            (x, y),
            settings,
            generator=torch.Generator(),
            on_epoch_end=count,
        )


def test_train_model_keeps_on_epoch_end_records_and_log_setting(caplog):
    x, y = regression_data()
    settings = TrainSettings(3, 25, 0.01, schedule="cosine", log_every_epoch=False)
    with caplog.at_level(logging.INFO, logger="repgeom.training"):
        history = train_model(
            fresh_model(),
            mse,
            (x, y),
            settings,
            generator=torch.Generator(),
            on_epoch_end=lambda epoch, history: {"seen": epoch},
        )
    assert [h["seen"] for h in history] == [1, 2, 3] and history[0]["lr"] == 0.01
    epochs = [r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch ")]
    assert len(epochs) == 1 and epochs[0].startswith("epoch 3/3")


def test_training_args_take_the_rules_training_params_and_run():
    run = SimpleNamespace(
        params={"steps": 20, "batch_size": 8, "lr": 1e-3, "weight_decay": 0.0, "hidden": 4},
        seed=3,
        generator=torch.Generator(),
        device=torch.device("cpu"),
        log=logging.getLogger("x"),
    )
    args = training_args(run)
    assert args == {"steps": 20, "batch_size": 8, "lr": 1e-3, "weight_decay": 0.0, "run": run}
    assert TrainRun(3, run.generator, run.device).log is None
