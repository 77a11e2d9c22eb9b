"""The package's one base error: every error a user can fix from its message alone derives from it.

Stage scripts (``wb_embedder.stage.run_stage``) catch :class:`WbEmbedderError` and print its
message as one line (file, row and column where it names a file); anything else is a bug and
keeps its traceback. Each module keeps its own error class (``ContractError``, ``ParamsError``,
...) next to the code that raises it; each also derives from the builtin it always was
(``ValueError`` or ``RuntimeError``), so callers that catch those still do.

No imports: every module may import this one, and stage.py must not pull in torch to learn what
to catch.
"""

from __future__ import annotations


class WbEmbedderError(Exception):
    """A failure the user can fix from the message: bad params, raw data, inputs or environment."""
