"""The loop's parts, each on its own (tiny real models and data, no mocks): the state and its checkpoint form, the
log window, one training step, the checkpointer, the epoch iterator; and ``train()`` called directly."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from seqtune.data.batching import LMStream
from seqtune.errors import TrainingError
from seqtune.loggers.metrics import Display
from seqtune.models.encoder import Encoder
from seqtune.objectives.base import TaskModel
from seqtune.objectives.clm import CausalLM
from seqtune.training import checkpoint
from seqtune.training.checkpointer import Checkpointer
from seqtune.training.loop import EPOCH_END, EpochStart, LoopSettings, epoch_batches, train
from seqtune.training.rundir import RunDir
from seqtune.training.state import LogWindow, LoopState, TrainClock, rank_rng
from seqtune.training.step import NonFiniteLoss, train_step
from tests.conftest import read_jsonl

CPU = torch.device("cpu")
SETTINGS = LoopSettings(max_epochs=2, max_steps=-1, eval_interval=0, log_interval=5, clip_grad_norm=0.0,
                        precision="fp32", device=CPU)


def tiny_lm(seed: int = 0) -> TaskModel:
    torch.manual_seed(seed)
    encoder = Encoder("lstm", vocab_size=12, embedding_size=8, hidden_size=8, num_layers=1)
    return TaskModel(encoder, CausalLM(encoder, tie_weights=False, fused_loss=False))


def stream(batch_size: int = 4) -> LMStream:
    return LMStream(torch.arange(6, 12).repeat(40), batch_size=batch_size, bptt=5, device=CPU)  # a cycle to learn


def sgd(model: TaskModel, lr: float = 0.5) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)


# ------------------------------------------------------------------------------------------ LoopState
def test_loop_state_round_trips_through_its_checkpoint_entries():
    st = LoopState(step=7, epoch=2, batch_in_epoch=3, best_value=1.5, best_step=5, train_tokens=70, train_seconds=1.0,
                   last_val={"loss": 1.6}, evals_since_best=1, skipped_batches=2, evaluated_at=5,
                   rnn_states=[(torch.ones(1, 2, 3), torch.zeros(1, 2, 3))],
                   window=LogWindow({"loss": torch.tensor(4.0)}, count=8, tokens=8))
    entries = st.checkpoint_entries(train_seconds=2.5, layout=[1, 1])
    assert entries["loop"]["train_seconds"] == 2.5 and entries["loop"]["rnn_layout"] == [1, 1]
    back = LoopState.from_checkpoint(entries, CPU, [1, 1], warn=pytest.fail)
    assert (back.step, back.epoch, back.batch_in_epoch, back.best_value, back.best_step) == (7, 2, 3, 1.5, 5)
    assert (back.train_tokens, back.train_seconds, back.skipped_batches, back.evaluated_at) == (70, 2.5, 2, 5)
    assert back.last_val == {"loss": 1.6} and back.window.count == 8 and float(back.window.sums["loss"]) == 4.0
    assert torch.equal(back.rnn_states[0][0], torch.ones(1, 2, 3))
    said: list[str] = []
    other = LoopState.from_checkpoint(entries, CPU, [1, 2], warn=said.append)  # two micro-batches now
    assert other.rnn_states == [None, None] and "zero state" in said[0]


def test_every_rank_gets_its_own_share_back_and_another_layout_keeps_the_window_whole():
    """What Checkpointer.save gathers under torchrun (one share per rank), read back per rank (tests/
    test_distributed_resume.py runs it with 2 real processes)."""
    shares = [{"rnn_states": [torch.full((1, 2, 3), float(r))], "rng": {"rank": r},
               "window": LogWindow({"loss": torch.tensor(2.0 + r)}, count=4 - r, tokens=8).to_checkpoint()}
              for r in range(2)]  # fmt: skip
    entries = LoopState(step=3).checkpoint_entries(1.0, [2, 1], shares)
    ckpt = {**entries, "rng": shares[0]["rng"]}
    for r in range(2):
        back = LoopState.from_checkpoint(ckpt, CPU, [2, 1], warn=pytest.fail, rank=r)
        assert torch.equal(back.rnn_states[0], torch.full((1, 2, 3), float(r)))
        assert (float(back.window.sums["loss"]), back.window.count, back.window.tokens) == (2.0 + r, 4 - r, 8)
        assert rank_rng(ckpt, [2, 1], r) == {"rank": r}
    said: list[str] = []
    one = LoopState.from_checkpoint(ckpt, CPU, [1, 1], warn=said.append)  # one process now
    assert one.rnn_states == [None] and rank_rng(ckpt, [1, 1], 0) == {"rank": 0}
    assert (float(one.window.sums["loss"]), one.window.count, one.window.tokens) == (5.0, 7, 8)  # both windows
    assert len(said) == 1 and "written by 2 process(es) x 1 micro-batch(es)" in said[0] and "zero state" in said[0]


def test_validation_results_keep_the_best_value_and_count_towards_patience():
    st = LoopState()
    assert st.record_validation({"acc": 0.5}, 0.5, "max", patience=2) is True and st.best_value == 0.5
    st.step = 10
    assert st.record_validation({"acc": 0.4}, 0.4, "max", patience=2) is False and not st.stopped_early
    assert st.record_validation({"acc": 0.5}, 0.5, "max", patience=2) is False  # equal is no improvement
    assert st.stopped_early and st.evals_since_best == 2 and st.best_step == 0 and st.evaluated_at == 10


def test_a_skipped_step_drops_its_sums_and_carried_state():
    st = LoopState.fresh(1)
    st.after_step([torch.ones(1)], {"loss": torch.tensor(2.0)}, 4, 4, skipped=False)
    st.after_step([torch.ones(1)], {"loss": torch.tensor(9.0)}, 4, 4, skipped=True)
    assert (st.step, st.skipped_batches, st.train_tokens, st.window.count) == (2, 1, 4, 4)
    assert st.rnn_states == [None] and float(st.window.sums["loss"]) == 2.0
    st.end_epoch()
    assert (st.epoch, st.batch_in_epoch) == (2, 0)


# ------------------------------------------------------------------------------------------ LogWindow
def test_log_window_gives_means_and_a_rate_then_starts_again():
    window = LogWindow()
    window.add({"loss": torch.tensor(6.0)}, 2, 2)
    window.add({"loss": torch.tensor(2.0)}, 2, 2)
    metrics, rate = window.flush(CPU, lambda means: {**means, "ppl": math.exp(means["loss"])})
    assert metrics["loss"] == 2.0 and metrics["ppl"] == pytest.approx(math.exp(2.0)) and rate > 0
    assert (window.sums, window.count, window.tokens) == ({}, 0, 0)
    assert window.flush(CPU, lambda means: means)[0] == {}  # an empty window logs no training metrics
    saved = LogWindow({"loss": torch.tensor(1.0)}, 3, 5).to_checkpoint()
    assert LogWindow.from_checkpoint(saved, CPU).tokens == 5


def test_train_clock_leaves_out_paused_time():
    clock = TrainClock(before=10.0)
    with clock.pause():
        pass
    assert 10.0 <= clock.elapsed() < 11.0 and clock.paused >= 0.0


# ------------------------------------------------------------------------------------------ train_step
def test_a_step_updates_the_weights_advances_the_schedule_and_carries_the_state():
    model = tiny_lm()
    optimizer, scheduler = sgd(model)
    before = [p.detach().clone() for p in model.parameters()]
    batch = next(stream().iter_from(0))
    result = train_step(model, batch, [None], optimizer, scheduler, list(model.parameters()), SETTINGS, stateful=True)
    assert not result.skipped and result.count == result.global_count == 20  # 5 steps x 4 columns
    assert isinstance(result.states[0], tuple) and not result.states[0][0].requires_grad
    assert scheduler.last_epoch == 1 and any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_accumulated_micro_batches_give_the_gradient_of_the_whole_batch():
    batch = next(stream().iter_from(0))
    after = []
    for accumulate in (1, 2):
        model = tiny_lm()
        optimizer, scheduler = sgd(model)
        settings = dataclasses.replace(SETTINGS, accumulate_grad_batches=accumulate)
        train_step(model, batch, [None] * accumulate, optimizer, scheduler, list(model.parameters()), settings, False)
        after.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(*after))


def test_a_nonfinite_loss_stops_by_default_and_is_skipped_on_request():
    model = tiny_lm()
    with torch.no_grad():
        model.objective.decoder.bias[0] = float("nan")
    optimizer, scheduler = sgd(model)
    batch = next(stream().iter_from(0))
    with pytest.raises(NonFiniteLoss):
        train_step(model, batch, [None], optimizer, scheduler, list(model.parameters()), SETTINGS, True)
    assert scheduler.last_epoch == 0  # stopped before the schedule moved
    before = [p.detach().clone() for p in model.parameters()]
    settings = dataclasses.replace(SETTINGS, skip_nonfinite=True)
    result = train_step(model, batch, [None], optimizer, scheduler, list(model.parameters()), settings, True)
    assert result.skipped and scheduler.last_epoch == 1
    assert all(torch.equal(a, b) or torch.isnan(a).any() for a, b in zip(before, model.parameters()))


# ------------------------------------------------------------------------------------------ Checkpointer
def test_checkpointer_writes_step_files_keeps_the_newest_and_refuses_nan_weights(tmp_path):
    model = tiny_lm()
    optimizer, scheduler = sgd(model)
    run = RunDir(tmp_path)
    ckpt = Checkpointer(run, {"config": {"x": 1}}, model, optimizer, scheduler, TrainClock(), [1, 1],
                        dataclasses.replace(SETTINGS, keep_checkpoints=2))
    st = LoopState.fresh(1)
    for step in (3, 6, 9):
        st.step = step
        ckpt.save_step(st)
    assert [n for n, _ in run.step_checkpoints()] == [6, 9] and ckpt.saved_step == 9
    saved = checkpoint.load(run.last)
    assert saved["step"] == 9 and saved["config"] == {"x": 1} and "loop" in saved and "rng" in saved
    with torch.no_grad():
        model.objective.decoder.bias[0] = float("nan")
    st.step = 10
    with pytest.raises(TrainingError, match=r"last good checkpoint, .*last.pt \(step 9\)"):
        ckpt.save_last(st)
    assert checkpoint.load(run.last)["step"] == 9


# ------------------------------------------------------------------------------------------ epochs
class Numbers:
    """Batches 0..n-1 in every epoch (the loop's Batches protocol)."""

    stateful = False

    def __init__(self, n: int):
        self.n, self.epochs = n, []

    def __len__(self) -> int:
        return self.n

    def set_epoch(self, epoch: int) -> None:
        self.epochs.append(epoch)

    def iter_from(self, start: int):
        return iter(range(start, self.n))


def test_epoch_batches_go_on_from_the_position_and_mark_each_epoch_end():
    st = LoopState(step=1, epoch=1, batch_in_epoch=1)
    started: list[int] = []
    seen = []
    for item in epoch_batches(st, Numbers(3), total_steps=6, max_epochs=2, on_epoch_start=started.append):
        seen.append(item)
        if item is EPOCH_END:
            st.end_epoch()
        else:
            st.step += 1
            st.batch_in_epoch += 1
    assert seen == [1, 2, EPOCH_END, 0, 1, 2, EPOCH_END] and started == [1, 2] and st.step == 6


def test_a_resumed_epoch_is_prepared_once():
    calls: list[int] = []
    start = EpochStart(calls.append)
    start.prepare(3)
    start(3)
    start(4)
    assert calls == [3, 4]


# ------------------------------------------------------------------------------------------ train()
def test_train_runs_the_epochs_logs_and_keeps_the_best(tmp_path):
    model = tiny_lm()
    optimizer, scheduler = sgd(model)
    data = stream()
    total = SETTINGS.total_steps(len(data))
    st = train(model, optimizer, scheduler, data, stream(), SETTINGS, tmp_path, {"objective": "clm"},
               Display("quiet", total, "test"))
    assert st.step == total == 2 * len(data) and st.evaluated_at == total
    assert st.epoch == 2  # the last step ends the run inside epoch 2 (no epoch end is counted after it)
    lines = read_jsonl(tmp_path / "metrics.jsonl")
    train_losses = [r["train/loss"] for r in lines if "train/loss" in r]
    assert train_losses[-1] < train_losses[0] and len([r for r in lines if "val/loss" in r]) == 2
    best = checkpoint.load(tmp_path / "checkpoints" / "best.pt")
    assert best["best_step"] == st.best_step and best["metrics"]["loss"] == st.best_value
