"""Character-aware words: the spelling reaches the encoder for words that are <unk> in its vocabulary, the
vocabulary's spelling (LM streams) equals the data's (tagging batches), masked words hide their spelling, and the
character CNN trains with the embedding's layer group."""
from __future__ import annotations

from pathlib import Path

import torch

from seqtune.data.batching import collate
from seqtune.data.chars import CHAR_MASK, CHAR_PAD, WORD_END, WORD_START, char_batch, vocabulary_chars, word_char_ids
from seqtune.data.records import Example
from seqtune.data.tokenizers import MASK_ID, PAD_ID, UNK_ID, TokenizerSettings, fit_tokenizer
from seqtune.data.encoding import encode_tokens
from seqtune.models.encoder import Encoder
from seqtune.objectives.base import TaskModel
from seqtune.heads.tagger import Tagger
from seqtune.training.transfer import layer_groups

TRAIN = "EU rejects German call to boycott British lamb .\nPeter Blackburn visited Paris ."


def _encoder(chars: bool, seed: int = 0) -> tuple[Encoder, object]:
    tok = fit_tokenizer(TokenizerSettings(kind="word", add_eos=False), [TRAIN])
    torch.manual_seed(seed)
    enc = Encoder("lstm", tok.vocab_size, 8, 12, 1, bidirectional=True, char_features="cnn" if chars else "none",
                  char_embedding_size=6, char_filters=10, vocab=tok.itos)
    return enc.eval(), tok


def test_spelling_ids():
    assert word_char_ids("EU") == [WORD_START, ord("E") + 4, ord("U") + 4, WORD_END]
    assert len(word_char_ids("x" * 50)) == 20 and word_char_ids("x" * 50)[-1] == WORD_END
    assert word_char_ids("é")[1:-1] == [0xC3 + 4, 0xA9 + 4]  # UTF-8 bytes: any text, nothing to fit
    batch = char_batch([["EU", "rejects"], ["a"]], time=2)  # (time, batch, chars)
    assert batch.shape == (2, 2, 9) and batch[1, 1].eq(CHAR_PAD).all()  # padding position: no characters
    table = vocabulary_chars(["<pad>", "<unk>", "<bos>", "<eos>", "<mask>", "<cls>", "EU"])
    assert table[PAD_ID].eq(CHAR_PAD).all() and table[MASK_ID, :3].tolist() == [WORD_START, CHAR_MASK, WORD_END]
    assert table[6, :4].tolist() == word_char_ids("EU")


def test_unseen_words_differ_by_their_spelling_only_with_char_features():
    words = [["Visited", "Obama"], ["Visited", "Okonkwo"]]  # the second words are both <unk>
    for chars in (True, False):
        enc, tok = _encoder(chars)
        ids = torch.tensor([encode_tokens(tok, w) for w in words]).t()  # (time, batch)
        assert ids[1].tolist() == [UNK_ID, UNK_ID]
        with torch.no_grad():
            out, _ = enc(ids, chars=char_batch(words, 2))
        differs = not torch.allclose(out[:, 0], out[:, 1])
        assert differs == chars  # without characters two <unk> words are the same input


def test_vocabulary_spelling_equals_the_batch_spelling():
    """An LM stream has only ids (the encoder spells them from its vocabulary); a tagging batch carries its words:
    for words the vocabulary has, both give the same output, so pretraining and fine-tuning read words alike."""
    enc, tok = _encoder(True)
    words = ["Peter", "Blackburn", "visited", "Paris", "."]
    ids = torch.tensor(encode_tokens(tok, words)).unsqueeze(1)
    with torch.no_grad():
        from_vocab, _ = enc(ids)
        from_batch, _ = enc(ids, chars=char_batch([words], len(words)))
    torch.testing.assert_close(from_vocab, from_batch)


def test_tagging_examples_carry_words_and_batches_carry_their_characters(tmp_path: Path):
    enc, tok = _encoder(True)
    examples = [Example(encode_tokens(tok, ws), [0] * len(ws), ws) for ws in (["Okonkwo", "visited"], ["EU"])]
    batch = collate(examples)
    assert batch.chars is not None and batch.chars.shape[:2] == batch.tokens.shape
    assert batch.tokens[0, 0] == UNK_ID and batch.chars[0, 0, :9].tolist() == word_char_ids("Okonkwo")
    assert collate([Example([5, 6], 1)]).chars is None  # classification examples carry no words


def test_char_cnn_is_in_the_embedding_group_and_trains():
    enc, tok = _encoder(True)
    model = TaskModel(enc.train(), Tagger(enc.output_size, ["O", "B-PER", "I-PER"], crf=True))
    groups = layer_groups(model)
    grouped = [id(p) for _, ps in groups for p in ps]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters())  # every parameter, exactly once
    assert any(p is enc.chars.conv.weight for p in groups[0][1])
    words = [["Okonkwo", "visited", "Paris"]]
    examples = [Example(encode_tokens(tok, w), [1, 0, 0], w) for w in words]
    model(collate(examples)).loss.backward()
    assert enc.chars.conv.weight.grad.abs().sum() > 0
    assert enc.chars.embedding.weight.grad[CHAR_PAD].abs().sum() == 0


def test_word_dropout_replaces_words_by_unk_in_training_only_and_keeps_specials():
    from seqtune.models.regularizers import FIRST_WORD_ID, word_dropout

    torch.manual_seed(0)
    tokens = torch.randint(FIRST_WORD_ID, 500, (200, 50))
    tokens[0] = PAD_ID
    tokens[1] = MASK_ID
    dropped = word_dropout(tokens, 0.2, True, FIRST_WORD_ID)
    replaced = dropped != tokens
    assert dropped[replaced].eq(UNK_ID).all()
    assert not replaced[:2].any()  # <pad> and <mask> are never replaced
    assert 0.17 < replaced[2:].float().mean().item() < 0.23
    assert torch.equal(word_dropout(tokens, 0.2, False, FIRST_WORD_ID), tokens)  # evaluation: the identity
    assert torch.equal(word_dropout(tokens, 0.0, True, FIRST_WORD_ID), tokens)


def test_word_dropout_keeps_the_spelling_of_a_replaced_word():
    """With every word replaced by <unk>, two different words still differ through their spelling (LM streams
    spell them from the vocabulary by their real ids) and the <unk> embedding row gets a gradient."""
    enc, tok = _encoder(True)
    enc.word_dropout = 1.0
    enc.dropout.p = 0.0
    ids = torch.tensor(encode_tokens(tok, ["Peter", "Paris"])).unsqueeze(1)  # (time, 1): two known words
    enc.train()
    emb = enc.embed(ids)  # (time, 1, embedding + filters)
    words, spelled = emb[..., :8], emb[..., 8:]
    torch.testing.assert_close(words[0], words[1])  # both embedded as <unk>
    torch.testing.assert_close(words[0, 0], enc.embedding.weight[UNK_ID])
    assert not torch.allclose(spelled[0], spelled[1])  # told apart by their characters
    out, _ = enc(ids)
    out.sum().backward()
    assert enc.embedding.weight.grad[UNK_ID].abs().sum() > 0
    enc.eval()
    assert not torch.allclose(enc.embed(ids)[0, 0, :8], enc.embedding.weight[UNK_ID])  # evaluation: the word
