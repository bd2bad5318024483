"""Characters of words, for character-aware word encoders (``model.char_features``).

A word is spelled as its UTF-8 bytes between a start and an end marker (ELMo's byte alphabet): the alphabet is
fixed, so there is nothing to fit or save, any text works, and a word that is ``<unk>`` in the word vocabulary
keeps its spelling.  Tagging examples carry their words (``Example.words``); batches then carry a
``(time, batch, chars)`` tensor built here, and the encoder reads it beside the word ids::

    word_char_ids("Obama")                 # [1, 83, 102, 101, 113, 101, 2]   (start, bytes + 4, end)
    char_batch([["EU", "rejects"], ["Peter"]], time=2)   # (2, 2, 9) int64, CHAR_PAD-filled

Language-model streams carry no words: there the encoder spells each word id by its vocabulary string
(:func:`vocabulary_chars`), which is the same thing for every word the vocabulary has.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from seqtune.data.tokenizers import MASK_ID, PAD_ID

CHAR_PAD, WORD_START, WORD_END, CHAR_MASK = 0, 1, 2, 3  # CHAR_MASK: the one "character" of a masked word
BYTE_OFFSET = 4
NUM_CHAR_IDS = BYTE_OFFSET + 256
MAX_WORD_CHARS = 20  # markers included: longer words keep their first 18 bytes


def word_char_ids(word: str, max_chars: int = MAX_WORD_CHARS) -> list[int]:
    """One word -> [WORD_START, byte + BYTE_OFFSET ..., WORD_END], at most ``max_chars`` ids."""
    body = word.encode("utf-8")[: max_chars - 2]
    return [WORD_START, *(b + BYTE_OFFSET for b in body), WORD_END]


def char_batch(words: Sequence[Sequence[str]], time: int) -> torch.Tensor:
    """Word lists of a batch (one per example) -> (time, batch, chars) int64; padding positions are all CHAR_PAD."""
    spelled = [[word_char_ids(w) for w in ws] for ws in words]
    width = max((len(c) for ws in spelled for c in ws), default=1)
    out = torch.full((time, len(words), width), CHAR_PAD, dtype=torch.long)
    for b, ws in enumerate(spelled):
        for t, ids in enumerate(ws[:time]):
            out[t, b, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return out


def vocabulary_chars(vocab: Sequence[str]) -> torch.Tensor:
    """(vocab, MAX_WORD_CHARS) int64: the spelling of every vocabulary entry; ``<pad>`` is empty and ``<mask>``
    is one CHAR_MASK, so a masked word (objective=mlm) hides its spelling too."""
    table = torch.full((len(vocab), MAX_WORD_CHARS), CHAR_PAD, dtype=torch.long)
    for i, word in enumerate(vocab):
        if i == PAD_ID:
            continue
        ids = [WORD_START, CHAR_MASK, WORD_END] if i == MASK_ID else word_char_ids(word)
        table[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return table
