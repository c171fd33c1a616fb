"""What the generated documents are compared with: the docs are made with the versions Heroku
installs (requirements.txt); a schema or a settings type reads differently under another
pydantic (the floor's 2.7 words the JSON Schema otherwise), so a comparison with the committed
text means something only under those versions."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def pinned(package: str) -> str:
    match = re.search(rf"^{package}==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M)
    assert match, f"{package} is not pinned in requirements.txt"
    return match.group(1)


def with_the_pinned_pydantic() -> None:
    """Skip, saying why, unless pydantic is the version requirements.txt pins."""
    installed, wanted = version("pydantic"), pinned("pydantic")
    if installed != wanted:
        pytest.skip(
            f"the docs are generated with pydantic {wanted} (requirements.txt); "
            f"{installed} here words them otherwise"
        )
