"""The one error type of the provenance stage: something a user can act on (a missing key, a
corrupt file, an unknown format). Verbs catch it and print one line; the rest of a batch goes on."""


from nonesuch.errors import NonesuchError


class ProvenanceError(NonesuchError):
    """What failed, on which file, and what to do about it."""
