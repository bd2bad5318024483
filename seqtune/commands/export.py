"""``seqtune export <run dir | checkpoint>``: a run's model for sharing (safetensors) and deployment (ONNX).

Writes into ``--out`` (default ``<run dir>/export/``):

* ``model.safetensors`` - the weights (no pickle: loading them cannot run code);
* ``config.yaml`` and ``tokenizer.json`` - what rebuilds the model and its preprocessing;
* ``export.json`` - what the files hold: objective, inputs and outputs, seqtune version, source checkpoint;
* with ``--onnx`` (``pip install seqtune[export]``): ``model.onnx``, checked against PyTorch with onnxruntime on
  a batch and a length other than the ones it was traced with.

Every checkpoint kind exports: a pretraining checkpoint (the ONNX graph maps token ids ``(time, batch)`` int64 to
the objective's predictions when it has a ``predict(encoder, tokens)`` -- a causal LM gives next-token logits
``(time, batch, vocab)`` -- else to the encoder's hidden states ``(time, batch, hidden)``), and a fine-tuned one
(classifier: ``tokens, lengths -> (batch, classes)`` probabilities; tagger: ``tokens, lengths -> (time, batch,
tags)``; regressor: ``values (L, batch, features) -> (H, batch, targets)``; a multitask run exports its task head),
with ``labels.json``.  The files are readable by others (0644), whatever the umask of the run that wrote them.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import torch
from omegaconf import OmegaConf
from torch import nn

from seqtune import __version__
from seqtune.errors import SeqtuneError
from seqtune.objectives.base import TaskModel
from seqtune.training import checkpoint
from seqtune.training.checkpoint import Key
from seqtune.training.inference import rebuild_pretrained
from seqtune.training.rundir import RunDir


class InferenceModule(nn.Module):
    """tokens (time, batch) -> predictions: what a deployed model computes, without the training loss."""

    def __init__(self, model: TaskModel):
        super().__init__()
        self.model = model
        # Inference only: a wrapper left in training mode would make torch.onnx.export "restore" training mode
        # on the whole model after tracing, turning dropout back on.
        self.eval()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        predict = getattr(self.model.objective, "predict", None)
        if predict is not None:
            return predict(self.model.encoder, tokens)
        hidden, _ = self.model.encoder(tokens)
        return hidden


class FinetunedModule(nn.Module):
    """A fine-tuned model's task prediction: (tokens, lengths) for text heads, values for a series regressor."""

    def __init__(self, model: TaskModel, task: str):
        super().__init__()
        self.model, self.task = model, task
        self.eval()

    @property
    def numeric(self) -> bool:
        return getattr(self.model.encoder, "input_kind", "tokens") == "numeric"

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        head = getattr(self.model.objective, "head", self.model.objective)  # multitask: its task head
        if self.numeric:
            return head.predict(self.model.encoder, inputs)
        from seqtune.data.batching import LabelledBatch

        assert lengths is not None
        return head.predict(self.model.encoder, LabelledBatch(inputs, lengths, lengths))


def resolve_checkpoint(source: Path) -> Path:
    """A run directory stands for its checkpoint (best.pt, else last.pt); a file is taken as given."""
    if source.is_dir():
        path = RunDir(source).checkpoint()
        if not path.exists():
            raise SeqtuneError(
                f"export: {source} has no checkpoints/best.pt or last.pt; give a run directory or a .pt file."
            )
        return path
    return source


def load_model(ckpt: dict, source: Path | str = "the checkpoint") -> tuple[TaskModel, nn.Module, list[str] | None]:
    """(the model, the module ONNX traces, the labels of a fine-tuned checkpoint or None)."""
    if Key.HEAD in ckpt:
        from seqtune.training.inference import rebuild_finetuned

        model, _, labels, cfg = rebuild_finetuned(ckpt, str(source))
        return model, FinetunedModule(model, str(ckpt.get(Key.TASK) or "")), labels
    model = rebuild_pretrained(ckpt)
    return model, InferenceModule(model), None


def sample_input(encoder, time: int, batch: int) -> torch.Tensor:
    """Token ids (time, batch), or values (time, batch, features) for a numeric-input encoder."""
    if getattr(encoder, "input_kind", "tokens") == "numeric":
        return torch.randn(time, batch, encoder.input_projection.in_features)
    return torch.randint(0, encoder.vocab_size, (time, batch))


def _onnx_inputs(module: nn.Module, time: int, batch: int) -> tuple[tuple[torch.Tensor, ...], list[str]]:
    """Sample inputs and their names: text heads take lengths too (every length from 1 to ``time`` occurs)."""
    encoder = module.model.encoder  # type: ignore[union-attr]
    first = sample_input(encoder, time, batch)
    if isinstance(module, FinetunedModule) and not module.numeric:
        lengths = torch.tensor([time - (i % time) for i in range(batch)], dtype=torch.int64)
        return (first, lengths), ["tokens", "lengths"]
    return (first,), ["tokens" if first.dtype == torch.int64 else "values"]


def export_onnx(module: nn.Module, path: Path, check_atol: float = 1e-4) -> float:
    """Trace with one shape, check with another; returns the largest absolute difference from PyTorch."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise SeqtuneError("ONNX export needs onnx and onnxruntime: pip install 'seqtune[export]'.") from exc
    trace_inputs, names = _onnx_inputs(module, 7, 3)
    axes = {n: ({0: "time", 1: "batch"} if n != "lengths" else {0: "batch"}) for n in names}
    with warnings.catch_warnings():
        # The TorchScript-based exporter is deprecated in favour of torch.export, but the latter bakes the sequence
        # length into nn.LSTM's graph (wrong results at other lengths, checked with torch 2.13), so keep it.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            trace_inputs,
            str(path),
            dynamo=False,
            input_names=names,
            output_names=["output"],
            dynamic_axes={**axes, "output": _output_axes(module)},
        )
    check, _ = _onnx_inputs(module, 13, 5)
    with torch.no_grad():
        expected = module(*check).numpy()
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {n: t.numpy() for n, t in zip(names, check)})[0]
    diff = float(abs(got - expected).max())
    if diff > check_atol:
        raise SeqtuneError(
            f"ONNX export of {path} differs from PyTorch by {diff:.3g} (> {check_atol}); "
            "do not deploy it. Please report this with the run's config.yaml."
        )
    return diff


def _output_axes(module: nn.Module) -> dict[int, str]:
    if isinstance(module, FinetunedModule) and module.task == "classification":
        return {0: "batch"}  # (batch, classes)
    if isinstance(module, FinetunedModule) and module.numeric:
        return {1: "batch"}  # (horizon, batch, targets)
    return {0: "time", 1: "batch"}


def export(source: Path, out: Path | None = None, onnx: bool = False) -> dict[str, Path]:
    from safetensors.torch import save_model

    ckpt_path = resolve_checkpoint(source)
    ckpt = checkpoint.load(ckpt_path)
    checkpoint.require(ckpt, ckpt_path, (Key.MODEL, Key.CONFIG), config=("model",))
    run = RunDir.of_checkpoint(ckpt_path)
    out = out or ((run.path if run is not None else ckpt_path.parent) / "export")
    out.mkdir(parents=True, exist_ok=True)
    model, module, labels = load_model(ckpt, ckpt_path)
    files = {
        "weights": out / "model.safetensors",
        "config": out / "config.yaml",
        "tokenizer": out / "tokenizer.json",
        "meta": out / "export.json",
    }
    save_model(model, str(files["weights"]))  # handles tied (shared) tensors
    files["config"].write_text(OmegaConf.to_yaml(OmegaConf.create(ckpt[Key.CONFIG])), encoding="utf-8")
    if ckpt.get(Key.TOKENIZER):
        files["tokenizer"].write_text(json.dumps(ckpt[Key.TOKENIZER]), encoding="utf-8")
    else:
        del files["tokenizer"]
    if ckpt.get(Key.DATA):
        files["data"] = out / "data.json"
        files["data"].write_text(json.dumps(ckpt[Key.DATA]), encoding="utf-8")
    if labels is not None:
        files["labels"] = out / "labels.json"
        files["labels"].write_text(json.dumps(labels), encoding="utf-8")
    predicts = hasattr(model.objective, "predict")
    meta: dict[str, object] = {
        "seqtune_version": __version__,
        "source": str(ckpt_path),
        "objective": ckpt.get(Key.OBJECTIVE),
        "step": ckpt.get(Key.STEP),
        "input": "values: float32 (time, batch, features), normalised as data.json says"
        if getattr(model.encoder, "input_kind", "tokens") == "numeric"
        else "tokens: int64 (time, batch), ids from tokenizer.json",
        "output": _output_text(module, predicts),
    }
    if isinstance(module, FinetunedModule) and not module.numeric:
        meta["input"] = f"{meta['input']}; lengths: int64 (batch,), the real length of each column"
    if onnx:
        files["onnx"] = out / "model.onnx"
        meta["onnx_max_abs_diff"] = export_onnx(module, files["onnx"])
    files["meta"].write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    for path in files.values():
        path.chmod(0o644)  # readable by others: an export is for sharing (torch/safetensors may write 0600)
    return files


def _output_text(module: nn.Module, predicts: bool) -> str:
    if isinstance(module, FinetunedModule):
        return {
            "classification": "class probabilities (batch, classes), in the order of labels.json",
            "tagging": "tag probabilities (time, batch, tags), in the order of labels.json",
        }.get(module.task, "forecast (horizon, batch, targets) on the normalised scale (data.json)")
    return "predictions (time, batch, vocab)" if predicts else "encoder hidden states (time, batch, hidden)"


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(
        prog="seqtune export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("source", type=Path, help="a run directory (uses checkpoints/best.pt) or a checkpoint file")
    p.add_argument("--out", type=Path, help="output folder (default: <run dir>/export)")
    p.add_argument("--onnx", action="store_true", help="also write model.onnx, checked against PyTorch")
    a = p.parse_args(argv)
    files = export(a.source, a.out, a.onnx)
    meta = json.loads(files["meta"].read_text())
    print("exported " + ", ".join(str(f) for f in files.values()))
    if "onnx_max_abs_diff" in meta:
        print(f"ONNX output matches PyTorch (max abs difference {meta['onnx_max_abs_diff']:.2e})")
