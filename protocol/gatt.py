# The button's GATT layout (protocol/SPEC.md, "BLE"). Random 128-bit UUIDs
# that say nothing about what the device is; neither is ever advertised.
SERVICE_UUID = "43b4d7d8-0abe-4445-9ead-b91da921b51a"
# Read: oldest unacknowledged frame. Notify: each frame. Write: ACK / TIME / RECEIPT.
# Every access needs an encrypted link.
FRAME_UUID = "156933e6-3305-41d5-9916-a592078e97b2"
