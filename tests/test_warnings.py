"""The test configuration turns a deprecation attributed to sparsemod into a test failure and
keeps a library's notice about its own internals out of the way."""

from __future__ import annotations

import warnings

import pytest


@pytest.mark.parametrize("category", [DeprecationWarning, FutureWarning])
@pytest.mark.parametrize("module", ["sparsemod.quantize.int8", "sparsemod.morphnet.prune",
                                    "sparsemod_example_cnn_123"])
def test_a_deprecation_in_sparsemod_fails_the_test(category: type[Warning], module: str):
    with pytest.raises(category):
        warnings.warn_explicit("old call", category, "file.py", 1, module=module)


@pytest.mark.parametrize("module", ["ax.core.data", "botorch.models", "ray.tune", "torch.jit._script"])
def test_a_librarys_own_deprecation_is_ignored(module: str):
    with warnings.catch_warnings(record=True) as seen:  # record=True keeps the configured filters
        warnings.warn_explicit("old call", DeprecationWarning, "file.py", 1, module=module)
    assert seen == []
