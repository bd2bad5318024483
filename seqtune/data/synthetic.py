"""The built-in corpus: sentences from a small probabilistic grammar, generated in code, deterministic per seed.

It has structure an RNN can learn and a unigram model cannot: determiner-noun number agreement, subject-verb
agreement across relative clauses (a long-range dependency), and a topic per sentence that biases its words.
The topic is also the label of the companion classification task, so an encoder pretrained on the corpus has
something useful to transfer.  Nothing is downloaded or committed: ``seqtune pretrain`` with no arguments
runs anywhere.

Usage::

    sents = generate_sentences(1000, seed=0)   # list[Sentence]; each has .text and .topic
"""

from __future__ import annotations

import random
from dataclasses import dataclass

TOPICS: dict[str, dict[str, list[str]]] = {
    "sports": {
        "nouns": ["player", "coach", "team", "ball", "goal", "match", "referee", "runner", "field", "trophy"],
        "verbs": ["kick", "throw", "win", "lose", "chase", "train", "score", "pass"],
        "adjectives": ["fast", "strong", "tired", "proud"],
    },
    "food": {
        "nouns": ["cook", "soup", "bread", "apple", "kitchen", "waiter", "plate", "cake", "baker", "knife"],
        "verbs": ["bake", "taste", "cut", "serve", "boil", "eat", "cook", "slice"],
        "adjectives": ["hot", "sweet", "fresh", "salty"],
    },
    "space": {
        "nouns": ["pilot", "rocket", "planet", "star", "moon", "robot", "engineer", "orbit", "comet", "probe"],
        "verbs": ["launch", "orbit", "land", "scan", "repair", "track", "observe", "fuel"],
        "adjectives": ["distant", "bright", "silent", "frozen"],
    },
    "music": {
        "nouns": ["singer", "drum", "guitar", "song", "band", "piano", "dancer", "choir", "concert", "violin"],
        "verbs": ["play", "sing", "tune", "hear", "record", "write", "perform", "hum"],
        "adjectives": ["loud", "soft", "famous", "gentle"],
    },
}
SHARED_ADJECTIVES = ["old", "new", "small", "big", "red", "green"]
PREPOSITIONS = ["near", "behind", "with", "under", "after"]
ADVERBS = ["quickly", "slowly", "often", "never", "always"]


@dataclass(frozen=True)
class Sentence:
    text: str
    topic: str


def _plural(noun: str) -> str:
    return noun + ("es" if noun.endswith(("s", "sh", "ch")) else "s")


def _third_person(verb: str) -> str:
    return verb + ("es" if verb.endswith(("s", "sh", "ch", "x")) else "s")


class _Grammar:
    def __init__(self, rng: random.Random, topic: str):
        self.rng, self.topic = rng, topic
        self.other_topics = [t for t in TOPICS if t != topic]

    def _lexicon(self, part: str) -> list[str]:
        # 85% of content words come from the sentence's own topic: enough signal to classify a sentence,
        # enough noise that a bag of words is not trivially perfect.
        t = self.topic if self.rng.random() < 0.85 else self.rng.choice(self.other_topics)
        return TOPICS[t][part]

    def noun_phrase(self, plural: bool, depth: int) -> list[str]:
        r = self.rng
        det = r.choice(["the", "some", "many", "these"] if plural else ["the", "a", "one", "this"])
        words = [det]
        if r.random() < 0.4:
            words.append(r.choice(self._lexicon("adjectives") if r.random() < 0.6 else SHARED_ADJECTIVES))
        noun = r.choice(self._lexicon("nouns"))
        words.append(_plural(noun) if plural else noun)
        if depth < 2 and r.random() < 0.25:  # relative clause: "that <verb agreeing with the head> <np>"
            words += ["that"] + self.verb_phrase(plural, depth + 1)
        return words

    def verb_phrase(self, plural: bool, depth: int) -> list[str]:
        r = self.rng
        verb = r.choice(self._lexicon("verbs"))
        words = [verb if plural else _third_person(verb)]
        words += self.noun_phrase(r.random() < 0.4, depth + 1)
        if r.random() < 0.3:
            words.append(r.choice(ADVERBS))
        return words

    def sentence(self) -> list[str]:
        r = self.rng
        plural = r.random() < 0.4
        words = self.noun_phrase(plural, 0) + self.verb_phrase(plural, 0)
        if r.random() < 0.3:
            words += [r.choice(PREPOSITIONS)] + self.noun_phrase(r.random() < 0.4, 2)
        return words + ["."]


def generate_sentences(n: int, seed: int) -> list[Sentence]:
    """``n`` sentences, identical for the same ``seed`` on every machine and Python version."""
    rng = random.Random(seed)
    topics = sorted(TOPICS)
    out = []
    for _ in range(n):
        topic = rng.choice(topics)
        out.append(Sentence(" ".join(_Grammar(rng, topic).sentence()), topic))
    return out
