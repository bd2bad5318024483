"""Encoders; importing this package registers them in ``MODELS``."""

from seqtune.models import encoder  # noqa: F401  (registers rnn, lstm, gru)
