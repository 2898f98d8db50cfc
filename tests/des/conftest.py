"""Fixtures of the simulator tests (helpers: tests/des/des_helpers.py)."""
import pytest

from components import load_shipped_config


@pytest.fixture
def hw():
    return load_shipped_config
