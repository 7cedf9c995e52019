"""The police tech desk's work on a button in hand: `msa decommission` (wipe.py,
cli.py). Provisioning's guided flow is to come (docs/tech-desk.md)."""
