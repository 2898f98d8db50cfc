"""Exception types of the components package: one per kind of failure a caller may want to catch."""

from __future__ import annotations


class ConfigError(ValueError):
    """A hardware config (or one of its data tables) could not be loaded or is invalid.

    The message is one line: ``<file>: <field.path>: <reason>``. The parts are also attributes so that
    tools can show them separately.
    """

    def __init__(self, source: str, field: str, reason: str, *, all_errors: list[str] | None = None):
        self.source = source
        self.field = field
        self.reason = reason
        self.all_errors = all_errors or [f"{field}: {reason}"]
        extra = f" (+{len(self.all_errors) - 1} more: {'; '.join(self.all_errors[1:])})" if len(self.all_errors) > 1 else ""
        msg = f"{source}: {field}: {reason}{extra}"
        super().__init__(" ".join(msg.split()))  # one line, whatever the reasons contained


class CapacityError(ValueError):
    """A request can never be satisfied by a component (e.g. more bytes than a buffer holds).

    Raised immediately at request time, so that a simulation fails fast instead of blocking forever.
    """


class UnsupportedFormatError(ValueError):
    """A PE cluster was asked to run a number format absent from its `rates` table."""

    def __init__(self, fmt: str, cluster: str, supported: list[str] | tuple[str, ...]):
        self.fmt = fmt
        self.cluster = cluster
        self.supported = tuple(supported)
        super().__init__(
            f"format {fmt!r} is not supported by {cluster} (its rates cover: {', '.join(self.supported) or 'nothing'})"
        )
