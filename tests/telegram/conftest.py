"""What the Telegram-side tests share."""

from __future__ import annotations

import pytest


class Answers:
    """An ApiObserver that keeps what it is told."""

    def __init__(self) -> None:
        self.answered: list[tuple[str, int]] = []
        self.unreachable: list[tuple[str, str, str]] = []

    def telegram_answered(self, method: str, code: int) -> None:
        self.answered.append((method, code))

    def telegram_unreachable(self, method: str, kind: str, error: str) -> None:
        self.unreachable.append((method, kind, error))


@pytest.fixture
def answers() -> Answers:
    return Answers()
