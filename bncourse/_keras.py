"""TensorFlow and Keras for bncourse's Keras modules, imported quietly.

The variables are set before the first import, as every chapter does (CONVENTIONS.md), so that
importing a bncourse module first prints no TensorFlow log lines and uses no oneDNN reordering.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

__all__ = ["keras", "tf"]
