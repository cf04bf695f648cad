"""The one exception type a user can cause.

Every error that bad input can trigger is a :class:`SpecError`: a one-line message naming the
offending field and what would be accepted.  The CLI turns it into ``noether: error: ...`` and
exit code 2, without a traceback.
"""

from __future__ import annotations


class SpecError(ValueError):
    """Bad user input: ``field`` names where, the message says what is accepted."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class DivergenceError(RuntimeError):
    """A run went non-finite; carries the step and the partial trajectory."""

    def __init__(self, step: int, what: str = "parameters"):
        self.step = step
        super().__init__(f"run diverged: {what} became non-finite at step {step}")


class InternalContradiction(RuntimeError):
    """Two parts of the toolkit disagree (e.g. more derived charges than counted laws): a bug.

    The CLI prints it as one line asking for a report and exits 3; it is never a result.
    """

    def __init__(self, message: str):
        super().__init__(f"internal contradiction: {message}; this is a bug in noether, please report it "
                         "with the spec and command")
