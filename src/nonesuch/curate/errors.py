"""The one error type of the curate stage: something a user can fix, named in one line."""


from nonesuch.errors import NonesuchError


class CurateError(NonesuchError):
    """A curation step that cannot go on; the message names the file and what to do."""
