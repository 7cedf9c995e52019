# The wire between the emulated board's MicroPython process and its hardware
# on the host (boards/emulated/hardware.py): radio, pins, ADC, watchdog.
#
# JSON lines over a Unix socket (path in $MSA_BOARD_SOCKET). Bytes travel as
# {"h": hex}, UUIDs as {"u": str}.
#   board -> host: {"op", "args", "id"} a call; {"sync", "ret"} an IRQ's answer
#   host -> board: {"re", "ok"|"err"} an answer; {"irq", "data"[, "sync"]};
#                  {"pin", "value"}; {"adc", "uv"}; {"fault": "pin"} (a test's
#                  injected fault: the next pin read raises)
#
# Events reach Python from the asyncio idle loop, as real ports deliver IRQs
# between tasks, never in the middle of other code: the pump task waits on
# the socket and delivers them in order. Events that arrive while a call
# blocks are queued, and the host is asked to poke the socket so the pump
# runs. (micropython.schedule() would not do here: on the unix port a
# scheduled callback runs inside the poll() of the idle loop, which then goes
# on blocking and misses a ThreadSafeFlag that the callback set.)
import asyncio
import json
import os
import select
import socket
import struct
import sys

_CALL_TIMEOUT_MS = 10000
_CHUNK = 512  # small reads: a 4 KB buffer fragments a 96 KB heap

_sock = None
_buffer = b""
_pending = []  # events not yet delivered, oldest first
_draining = False
_next_id = 0
_handlers = {}  # "irq" | "pin" | "adc" | "fault" -> function(message) -> reply or None


def encode(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"h": bytes(value).hex()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if hasattr(value, "_uuid"):  # bluetooth.UUID
        return {"u": value._uuid}
    return value


def decode(value):
    if isinstance(value, dict) and "h" in value:
        return bytes.fromhex(value["h"])
    if isinstance(value, list):
        return tuple(decode(v) for v in value)
    return value


def on(kind, handler):
    _handlers[kind] = handler


def _connect():
    global _sock
    if _sock is not None:
        return
    path = os.getenv("MSA_BOARD_SOCKET")
    if not path:
        raise OSError("MSA_BOARD_SOCKET is not set: run this board with `msa board run`")
    _sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # The unix port takes a raw struct sockaddr_un.
    _sock.connect(struct.pack("H", socket.AF_UNIX) + path.encode() + b"\0")
    _sock.setblocking(False)
    asyncio.create_task(_pump())


def _send(message):
    data = json.dumps(message).encode() + b"\n"
    while data:
        try:
            data = data[_sock.send(data) :]
        except OSError:  # the socket buffer is full: wait until it drains
            poller = select.poll()
            poller.register(_sock, select.POLLOUT)
            poller.poll(1000)


def _read_lines():
    try:
        chunk = _sock.recv(_CHUNK)
    except OSError:
        return []
    return _feed(chunk)


def _feed(chunk):
    global _buffer
    if not chunk:
        raise SystemExit("the board's hardware went away (power cut)")
    _buffer += chunk
    lines = _buffer.split(b"\n")
    _buffer = lines.pop()
    return [json.loads(line) for line in lines]


def call(op, *args):
    """Ask the hardware to do something and wait for its answer."""
    global _next_id
    _connect()
    _next_id += 1
    me = _next_id
    _send({"op": op, "args": encode(args), "id": me})
    poller = select.poll()
    poller.register(_sock, select.POLLIN)
    answer = None
    while answer is None:
        if not poller.poll(_CALL_TIMEOUT_MS):
            raise OSError("the board's hardware did not answer %s" % op)
        for message in _read_lines():
            if message.get("re") == me:
                answer = message
            elif "sync" in message:
                # The host waits for it: answer at once, but after the events
                # that came before it (an encryption update before a read).
                _drain()
                _deliver(message)
            elif "poke" not in message:
                _pending.append(message)
    if _pending and not _draining:
        tell("poke")  # wake the pump: it delivers what came in meanwhile
    if "err" in answer:
        raise OSError(answer["err"])
    return decode(answer.get("ok"))


def tell(op, *args):
    """Tell the hardware something that needs no answer."""
    _connect()
    _send({"op": op, "args": encode(args)})


def _drain():
    # One FIFO, one deliverer at a time (a handler may make a call that
    # queues more events), so events keep their order.
    global _draining
    if _draining:
        return
    _draining = True
    try:
        while _pending:
            _deliver(_pending.pop(0))
    finally:
        _draining = False


def _deliver(message):
    for kind in ("irq", "pin", "adc", "fault"):
        if kind in message:
            handler = _handlers.get(kind)
            result = None
            try:
                result = handler(message) if handler else None
            except Exception as error:  # as a port does: print it, drop the IRQ
                sys.print_exception(error)
            if "sync" in message:
                _send({"sync": message["sync"], "ret": encode(result)})
            return


async def _pump():
    stream = asyncio.StreamReader(_sock)
    while True:
        chunk = await stream.read(_CHUNK)
        _pending.extend(m for m in _feed(chunk) if "poke" not in m)
        _drain()
