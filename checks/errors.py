"""`ConfigError`: the configuration is invalid. Raised wherever settings or a
check's options are validated; the commands turn it into exit 78 with every
problem listed and no traceback."""

from __future__ import annotations


class ConfigError(Exception):
    """The configuration is invalid. Each problem names the file and the key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems
