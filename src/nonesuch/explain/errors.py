"""The one error type of the explain stage: something a user can fix, named in one line."""


class ExplainError(Exception):
    """A target spec, model file or run that explain cannot use; the message names it and the fix."""
