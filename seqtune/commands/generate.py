"""``seqtune generate``: continue a prompt with a causal language-model checkpoint.

temperature 0 is greedy decoding; otherwise tokens are sampled from softmax(logits / temperature), among the
``top_k`` most likely when top_k > 0.  The seed fixes the samples.  The prompt is encoded with the run's own
tokenizer (without the end-of-line token a word tokenizer appends), an empty prompt starts at a line boundary.
"""

from __future__ import annotations

import torch
from omegaconf import DictConfig

from seqtune.data.tokenizers import EOS_ID, PAD_ID, tokenizer_from_dict
from seqtune.errors import CheckpointError
from seqtune.objectives.base import TaskModel
from seqtune.training import checkpoint
from seqtune.training.checkpoint import Key
from seqtune.training.inference import open_run_checkpoint, rebuild_pretrained


def next_token(logits: torch.Tensor, temperature: float, top_k: int, generator: torch.Generator) -> int:
    """One token id from (vocab,) logits: argmax at temperature 0, else a (top-k) sample."""
    logits = logits.float().clone()
    logits[PAD_ID] = float("-inf")  # padding is never text
    if temperature == 0:
        return int(logits.argmax())
    logits = logits / temperature
    if 0 < top_k < logits.numel():
        kth = logits.topk(top_k).values[-1]
        logits[logits < kth] = float("-inf")
    return int(torch.multinomial(logits.softmax(-1).cpu(), 1, generator=generator))


@torch.inference_mode()
def run(cfg: DictConfig) -> dict[str, object]:
    device, path, ckpt = open_run_checkpoint(cfg, "pretrain")  # length, temperature, ...: config/values.py
    if ckpt.get(Key.OBJECTIVE) != "clm":
        raise CheckpointError(
            f"{path} holds a {ckpt.get(Key.OBJECTIVE)!r} model; generate needs a causal language "
            "model (a checkpoint of seqtune pretrain objective=clm)."
        )
    checkpoint.require(ckpt, path, (Key.TOKENIZER,))
    if ckpt[Key.TOKENIZER] is None:
        raise CheckpointError(f"{path} holds no tokenizer (entry 'tokenizer' is null); generate needs a text model.")
    tokenizer = tokenizer_from_dict(ckpt[Key.TOKENIZER])
    model = rebuild_pretrained(ckpt, path).to(device)
    prompt = tokenizer.encode(cfg.prompt) if cfg.prompt else []
    if prompt and prompt[-1] == EOS_ID and not cfg.prompt.endswith("\n"):
        prompt = prompt[:-1]  # a word tokenizer marks the line end: the prompt's line goes on
    prompt = prompt or [EOS_ID]
    generator = torch.Generator().manual_seed(cfg.seed)
    shown = prompt if cfg.prompt else []
    samples = [
        tokenizer.decode(shown + continuation(model, prompt, cfg, generator, device)) for _ in range(cfg.num_samples)
    ]
    for i, text in enumerate(samples):
        if len(samples) > 1:  # a sample may span lines (generated line ends): a header line separates them
            print(f"--- sample {i + 1} ---")
        print(text)
    return {"samples": samples}


def continuation(
    model: TaskModel, prompt: list[int], cfg: DictConfig, generator: torch.Generator, device: torch.device
) -> list[int]:
    """``cfg.length`` token ids after ``prompt``, each fed back through the encoder's carried state."""
    tokens = torch.tensor(prompt, device=device).unsqueeze(1)  # (time, 1)
    hidden, state = model.encoder(tokens)
    out: list[int] = []
    for _ in range(cfg.length):
        token = next_token(model.objective.scores(hidden[-1, 0]), cfg.temperature, cfg.top_k, generator)
        out.append(token)
        hidden, state = model.encoder(torch.tensor([[token]], device=device), state)
    return out
