# Runs at power-up (copied to the flash as /main.py).
import board

from firmware import app

app.run(board)
