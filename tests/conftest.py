"""Fixtures shared by every test layer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's top folder (the one holding pyproject.toml)."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def samples_dir(repo_root: Path) -> Path:
    """The shared folder of real sample inputs (never copied into the repo).

    `ATELIER_SAMPLES` overrides the default `<repo>/../shared/samples`; the test is skipped,
    saying where it looked, when the folder is absent.
    """
    folder = Path(os.environ.get("ATELIER_SAMPLES") or repo_root.parent / "shared" / "samples")
    if not folder.is_dir():
        pytest.skip(f"shared samples folder not found at {folder}: set ATELIER_SAMPLES")
    return folder
