"""Keep TensorFlow's start-up logging out of the terminal: the one place that does.

Every entry point that loads TensorFlow calls it first (the training, retraining and demo
children's `main`, the demos run in-process, the test session), before TensorFlow is
imported (its C++ side reads the variable once, at load). Level 2 hides the info and
warning lines about CPU features and XLA; errors still show. The
oneDNN notice is printed before TensorFlow's logging starts and only disappears with
TF_ENABLE_ONEDNN_OPTS=0, which changes the kernels (and their rounding), so it is left
alone: the bot's training children write their stderr to a log file, not the terminal.
"""

from __future__ import annotations

import os


def quiet_tensorflow() -> None:
    """Respects a value the user set; only supplies the default."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        from absl import logging as absl_logging
    except ImportError:  # absl comes with TensorFlow; without it there is nothing to quiet
        return
    absl_logging.set_verbosity(absl_logging.ERROR)
