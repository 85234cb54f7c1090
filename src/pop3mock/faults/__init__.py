"""Fault rules: when to misbehave and how (an -ERR, a delay, a slow transfer, a disconnect, a
corrupted reply), in Python (`server.faults.on("RETR").error(...)`) or as text (`parse_spec`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pop3mock import lazy_exports

if TYPE_CHECKING:
    from ._faultset import (
        CORRUPTIONS,
        KNOWN_TARGETS,
        Action,
        Bandwidth,
        Corrupt,
        Delay,
        Disconnect,
        Dribble,
        Error,
        FaultPlan,
        FaultPoint,
        FaultSet,
        Hang,
        Ok,
        ReplyRaw,
        Reset,
        Rule,
        RuleBuilder,
        Shortfall,
        parse_spec,
    )

__all__ = [
    "CORRUPTIONS",
    "KNOWN_TARGETS",
    "Action",
    "Bandwidth",
    "Corrupt",
    "Delay",
    "Disconnect",
    "Dribble",
    "Error",
    "FaultPlan",
    "FaultPoint",
    "FaultSet",
    "Hang",
    "Ok",
    "ReplyRaw",
    "Reset",
    "Rule",
    "RuleBuilder",
    "Shortfall",
    "parse_spec",
]

_HOMES: dict[str, str] = {
    "Action": "_faultset",
    "Bandwidth": "_faultset",
    "CORRUPTIONS": "_faultset",
    "Corrupt": "_faultset",
    "Delay": "_faultset",
    "Disconnect": "_faultset",
    "Dribble": "_faultset",
    "Error": "_faultset",
    "FaultPlan": "_faultset",
    "FaultPoint": "_faultset",
    "FaultSet": "_faultset",
    "Hang": "_faultset",
    "KNOWN_TARGETS": "_faultset",
    "Ok": "_faultset",
    "ReplyRaw": "_faultset",
    "Reset": "_faultset",
    "Rule": "_faultset",
    "RuleBuilder": "_faultset",
    "Shortfall": "_faultset",
    "parse_spec": "_faultset",
}

__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
