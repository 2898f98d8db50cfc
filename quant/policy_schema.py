"""The schema of precision-policy files (pydantic): what :func:`quant.policy.Policy.from_dict` accepts.

A policy is a mapping with ``name`` (text), ``description`` (text), ``rules`` (1 to
``components.fileio.limits.MAX_POLICY_RULES`` rules) and ``extra`` (a mapping, kept as is). A rule has ``weight`` and
``act`` (format names of :func:`quant.formats.get_format`, or ``fp32``), optional filters ``match`` (a glob),
``regex`` (a regular expression in the safe subset of :mod:`quant.patterns`), ``kind`` (conv, linear,
matmul), ``sparse_eligible`` (true/false) and a ``note``; nothing else. Every value has exactly its type:
``match: 5`` or ``sparse_eligible: "yes"`` is an error naming the rule and field.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from components.fileio.limits import MAX_NAME_CHARS, MAX_POLICY_RULES

from .patterns import MAX_GLOB_CHARS, MAX_REGEX_CHARS, check_glob, check_regex

__all__ = ["RuleSpec", "PolicySpec"]

Text = Annotated[str, Field(strict=True, max_length=10_000)]
FormatName = Annotated[str, Field(strict=True, min_length=1, max_length=64)]


class RuleSpec(BaseModel):
    """One rule: filters (all given ones must hold) and the formats of the MAC nodes it selects."""

    model_config = ConfigDict(extra="forbid")
    match: Optional[Annotated[str, Field(strict=True, max_length=MAX_GLOB_CHARS)]] = None
    regex: Optional[Annotated[str, Field(strict=True, max_length=MAX_REGEX_CHARS)]] = None
    sparse_eligible: Optional[StrictBool] = None
    kind: Optional[Literal["conv", "linear", "matmul"]] = None
    weight: FormatName
    act: FormatName
    note: Text = ""

    @field_validator("match")
    @classmethod
    def _glob(cls, v: Optional[str]) -> Optional[str]:
        if v is not None:
            check_glob(v)
        return v

    @field_validator("regex")
    @classmethod
    def _regex(cls, v: Optional[str]) -> Optional[str]:
        if v is not None:
            check_regex(v)
        return v

    @field_validator("weight", "act")
    @classmethod
    def _format(cls, v: str) -> str:
        from .policy import format_info
        format_info(v)  # PolicyError (a ValueError) names the unknown format
        return v


class PolicySpec(BaseModel):
    """A whole policy file."""

    model_config = ConfigDict(extra="forbid")
    name: Optional[Annotated[str, Field(strict=True, max_length=MAX_NAME_CHARS)]] = None
    description: Text = ""
    rules: Annotated[list[RuleSpec], Field(max_length=MAX_POLICY_RULES)]
    extra: Optional[dict[str, Any]] = None

    @field_validator("rules", mode="before")
    @classmethod
    def _non_empty(cls, v: Any) -> Any:
        if not isinstance(v, list) or not v:
            raise ValueError("'rules' must be a non-empty list of rules")
        return v
