"""Shared fixtures. Helpers live in tests/support.py."""

from __future__ import annotations

import os

# Tests never reach the Hub; huggingface_hub reads these at import.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.pop("HF_TOKEN", None)

import pytest

from tests.support import STACKS


@pytest.fixture(params=STACKS)
def stack_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)
