"""Collecting what TensorFlow's Python modules log, for tests that assert a line is (not) logged."""

import contextlib
import logging

from absl import logging as absl_logging


@contextlib.contextmanager
def absl_messages(level=logging.INFO):
    """Yields a list that collects the messages logged through absl's logger at `level` and above in the block.

    TensorFlow's SavedModel writer logs through absl; its INFO lines are hidden
    by absl's default verbosity, so the verbosity is lowered for the block. The
    verbosity flag, not only the logger's level, is set: code that reads absl's
    flags while the block runs re-applies the flag's value to the logger.
    """
    logger = absl_logging.get_absl_logger()
    messages = []

    class _Collect(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    handler = _Collect(level=level)
    previous = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.converter.standard_to_absl(level))
    logger.addHandler(handler)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        absl_logging.set_verbosity(previous)
