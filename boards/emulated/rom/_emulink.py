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
# Events reach Python the way the ESP32 port delivers them: at any point of the
# program, between two bytecodes, in sleep_ms() and machine.idle() too, not only
# when an asyncio loop polls (the port's NimBLE host task calls the handler
# whenever an event happens). A watcher thread waits on the socket and asks
# the interpreter, with micropython.schedule(), to read it; the reading and
# the handlers run on the main thread, one event at a time, in order. The
# watcher touches no shared object (the unix port's threads have no GIL).
# While asyncio idles in poll(), the pump task is what wakes it.
#
# The scheduler runs a callback only at a jump of the bytecode (a loop, an
# if), so the straight lines below that read or change shared state are
# atomic against the handlers.
import _thread
import asyncio
import json
import os
import select
import socket
import struct
import sys

import micropython

_CALL_TIMEOUT_MS = 10000
_WAIT_MS = 2  # a call re-checks its answer at least this often (see call())
_CHUNK = 512  # small reads: a 4 KB buffer fragments a 96 KB heap

_sock = None
_buffer = b""  # a line not yet whole
_out = b""  # bytes not yet sent
_pending = []  # events not yet delivered, oldest first
_answers = {}  # call id -> its answer
_taking = False
_draining = False
_next_id = 0
_handlers = {}  # "irq" | "pin" | "adc" | "fault" -> function(message) -> reply or None


def encode(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"h": bytes(value).hex()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if hasattr(value, "_le"):  # bluetooth.UUID: its little-endian bytes
        return {"u": value._le.hex()}
    return value


def decode(value):
    if isinstance(value, dict):  # bytes, or a UUID's (bluetooth.UUID takes them)
        return bytes.fromhex(value["h"] if "h" in value else value["u"])
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
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # The unix port takes a raw struct sockaddr_un.
    sock.connect(struct.pack("H", socket.AF_UNIX) + path.encode() + b"\0")
    sock.setblocking(False)
    _sock = sock
    served = _thread.allocate_lock()
    served.acquire()
    _thread.start_new_thread(_watch, (sock, served, micropython.schedule, _on_readable, select))
    asyncio.create_task(_pump())


def _watch(sock, served, schedule, callback, select):
    # The watcher thread: everything it uses came in as an argument.
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    while True:
        for _ in poller.ipoll(-1):
            pass
        try:
            schedule(callback, served)
        except RuntimeError:  # the scheduler's queue is full: wait for a turn
            poller.poll(1)
            continue
        served.acquire()  # until the main thread has read what is there


def _on_readable(served):
    try:
        # Scheduled in the middle of another read (the pump's, a call's), the
        # reader below us delivers what it reads once it has read it: a handler run
        # here could make a call whose own read finds the socket taken.
        if not _taking:
            _take()
            _drain()
    finally:
        served.release()


async def _pump():
    from asyncio import core

    while True:
        yield core._io_queue.queue_read(_sock)  # as asyncio's StreamReader waits
        _take()
        _drain()


def _send(message):
    global _out
    _out += json.dumps(message).encode() + b"\n"
    # A handler that interrupts this loop sends what is left first: one order.
    while _out:
        try:
            sent = _sock.send(_out)
            _out = _out[sent:]
        except OSError:  # the socket buffer is full: wait until it drains
            poller = select.poll()
            poller.register(_sock, select.POLLOUT)
            poller.poll(1000)


def _take():
    """Read what the host sent, without blocking: answers aside, events queued."""
    global _taking
    if _taking:
        return
    _taking = True
    try:
        while True:
            try:
                chunk = _sock.recv(_CHUNK)
            except OSError:  # EAGAIN: nothing more for now
                return
            for message in _feed(chunk):
                if "re" in message:
                    _answers[message["re"]] = message
                else:
                    _pending.append(message)
    finally:
        _taking = False


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
    waited = 0
    while me not in _answers:
        _take()
        if _draining:
            # Called from a handler: events wait for it to return, but the
            # host may be waiting on an IRQ's answer before it answers us.
            _deliver_sync()
        else:
            _drain()
        if me in _answers:
            break
        # A handler scheduled between the check and the poll may read our
        # answer: short polls, so that costs at most _WAIT_MS.
        if not poller.poll(_WAIT_MS):
            waited += _WAIT_MS
            if waited >= _CALL_TIMEOUT_MS:
                raise OSError("the board's hardware did not answer %s" % op)
    answer = _answers.pop(me)
    if "err" in answer:
        raise OSError(answer["err"])
    return decode(answer.get("ok"))


def tell(op, *args):
    """Tell the hardware something that needs no answer."""
    _connect()
    _send({"op": op, "args": encode(args)})


def _drain():
    # One FIFO, one deliverer at a time (a handler may make a call that
    # queues more events), so events keep their order. The reader scheduled
    # between the last look at _pending and the flag's clearing leaves its
    # event to us: the outer loop looks again once the flag is down, or the
    # event would wait for the host's next message (a sync IRQ: its timeout).
    global _draining
    while _pending and not _draining:
        _draining = True
        try:
            while _pending:
                _deliver(_pending.pop(0))
        finally:
            _draining = False


def _deliver_sync():
    # Only the events the host waits on; the others keep their place. One at a
    # time, taken as it is delivered: a handler's own call delivers the next ones.
    while True:
        for index, message in enumerate(_pending):
            if "sync" in message:
                del _pending[index]
                break
        else:
            return
        _deliver(message)


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
