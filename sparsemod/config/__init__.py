"""config.ini → validated, typed settings.

Every key is declared once in a schema (name, parser, what is allowed, default).  Keys of
the original SpArSe-based tool are required; keys sparsemod adds have documented defaults.
A bad file raises :class:`ConfigError` whose one-line message names the file, section, key,
the allowed values and what was given, e.g.::

    config.ini [TRAIN] objectives: expected an integer 1-4, got 'five'

This module imports nothing heavier than the standard library, so that ``main.py`` reports
a bad file before torch, Ax or Ray are loaded.
"""

from sparsemod.config.load import available_examples, check_test_mode, example_path, is_example_path, load_config
from sparsemod.config.schema import DEVICE_NAMES, METRICS, OBJECTIVES, QUANT_SCHEMES, SCHEMA, Constraint
from sparsemod.config.settings import MorphNetSettings, RaySettings, Settings, TestSettings, TrainSettings
from sparsemod.errors import ConfigError

__all__ = ["DEVICE_NAMES", "METRICS", "OBJECTIVES", "QUANT_SCHEMES", "SCHEMA", "ConfigError", "Constraint", "MorphNetSettings",
           "RaySettings", "Settings", "TestSettings", "TrainSettings", "available_examples", "check_test_mode",
           "example_path", "is_example_path", "load_config"]
