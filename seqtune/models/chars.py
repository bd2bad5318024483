"""Character features of words: a character CNN per word (Ma & Hovy 2016), concatenated with the word embedding
by the encoder when ``model.char_features=cnn``.

Each word's characters (``seqtune/data/chars.py``: UTF-8 bytes between start/end markers) are embedded, run
through one 1-D convolution and max-pooled over the word into ``filters`` features::

    cnn = CharCNN(embedding_size=30, filters=50)
    feats = cnn(chars)        # chars (time, batch, word_chars) int64 -> (time, batch, 50)

A position with no characters at all (batch padding) gets zero features.
"""

from __future__ import annotations

import torch
from torch import nn

from seqtune.data.chars import CHAR_PAD, NUM_CHAR_IDS

_NEG = -1e4  # below any convolution output: padding characters never win the max


class CharCNN(nn.Module):
    def __init__(self, embedding_size: int, filters: int, kernel_size: int = 3):
        super().__init__()
        self.embedding = nn.Embedding(NUM_CHAR_IDS, embedding_size, padding_idx=CHAR_PAD)
        self.conv = nn.Conv1d(embedding_size, filters, kernel_size, padding=kernel_size // 2)
        self.output_size = filters

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        time, batch, width = chars.shape
        flat = chars.reshape(time * batch, width)  # (words, chars)
        x = self.embedding(flat).transpose(1, 2)  # (words, embedding, chars)
        y = self.conv(x)  # (words, filters, chars)
        pad = (flat == CHAR_PAD).unsqueeze(1)  # (words, 1, chars)
        pooled = y.masked_fill(pad, _NEG).amax(-1)  # (words, filters)
        pooled = pooled.masked_fill(pad.all(-1), 0.0)  # a padding position: zero features
        return pooled.view(time, batch, -1)  # (time, batch, filters)
