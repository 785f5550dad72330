"""Shared test configuration.

Long tests (the whole torchvision zoo, long fuzzing) are marked ``@pytest.mark.slow``. The README's
``pytest`` runs a representative subset and skips them with a visible reason; ``pytest --slow`` or
``COSTCALC_SLOW=1`` (what CI sets) runs everything.
"""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", default=False,
                     help="also run tests marked slow (CI sets COSTCALC_SLOW=1 for the same effect)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: a long test (whole model zoo); runs with --slow or COSTCALC_SLOW=1")


def run_slow(config: pytest.Config) -> bool:
    return bool(config.getoption("--slow")) or os.environ.get("COSTCALC_SLOW", "") not in ("", "0")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if run_slow(config):
        return
    skip = pytest.mark.skip(reason="slow test: run with --slow or COSTCALC_SLOW=1 (CI does)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
