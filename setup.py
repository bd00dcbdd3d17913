"""Packages for the wheel (the rest is in pyproject.toml): sparsemod's own, plus examples/
installed as ``sparsemod/examples`` so that ``example = cnn`` works without a checkout."""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["sparsemod", "sparsemod.*"]), "sparsemod.examples"],
      package_dir={"sparsemod.examples": "examples"})
