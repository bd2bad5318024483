"""What ``seqtune explain`` (``seqtune/commands/explain.py``) is built from: ``attribution.py`` computes scores per
token or time step with Captum (Integrated Gradients through the embedding layer, or occlusion), ``render.py``
shows them (terminal, JSON Lines, HTML, top-k words per class).  Captum is an optional extra
(``seqtune[explain]``) and is imported only when an attribution runs; nothing here imports a command."""
