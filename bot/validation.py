"""Helpers for the pydantic models that check input against the configuration (schedule rows, broadcast requests)."""

from __future__ import annotations

from typing import cast

from pydantic import ValidationError, ValidationInfo
from pydantic_core import PydanticCustomError

from bot.config import Config


def invalid(reason: str) -> PydanticCustomError:
    """An error whose message is ``reason`` as it is: our wording, not pydantic's."""
    return PydanticCustomError("guahao", "{reason}", {"reason": reason})


def config_of(info: ValidationInfo) -> Config:
    """The configuration a model is checked against (``context={"config": ...}``)."""
    return cast(Config, (info.context or {})["config"])


def reasons(error: ValidationError) -> list[str]:
    """Every problem found, in field order, as its message."""
    return [problem["msg"] for problem in error.errors(include_url=False, include_context=False, include_input=False)]
