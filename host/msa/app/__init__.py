"""The phone's side: the 112 app's link to the button, emulated.

press -> button -> (BLE) -> `link` -> `outbox` (durable) -> ACK to the button
                                   -> `forwarder` -> backend (HTTP), retried until acked
"""
