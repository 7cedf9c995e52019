"""The police tech desk's work on a button in hand, over its USB serial REPL:
`msa arm-test` (arm.py) and `msa decommission` (wipe.py, cli.py). Provisioning's
guided flow is to come (docs/tech-desk.md)."""

from msa.errors import MsaError


class BoardError(MsaError):
    """The button on the port did not do what was asked, or is not the one named;
    the message says what happened and what to do."""
