"""seqtune: self-supervised pretraining of recurrent networks and transfer to small labelled tasks."""

__version__ = "0.1.0"
