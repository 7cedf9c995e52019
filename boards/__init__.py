"""One definition per board (boards/<board>/board.py), read by the host too."""

from __future__ import annotations

import ast
import contextlib
from pathlib import Path
from typing import Any

BOARDS = Path(__file__).resolve().parent


def board_constants(board: str) -> dict[str, Any]:
    """The constants of boards/<board>/board.py, read without running it (MicroPython)."""
    tree = ast.parse((BOARDS / board / "board.py").read_text())
    constants: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and target.id.isupper():
                with contextlib.suppress(ValueError):
                    constants[target.id] = ast.literal_eval(node.value)
    return constants
