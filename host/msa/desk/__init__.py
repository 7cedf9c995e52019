"""The police tech desk's work on a button in hand, over its USB serial REPL:
`msa provision` (provision.py, provision_cli.py), `msa arm-test` (arm.py) and
`msa decommission` (wipe.py, cli.py)."""

from msa.errors import MsaError


class BoardError(MsaError):
    """The button on the port did not do what was asked, or is not the one named;
    the message says what happened and what to do."""
