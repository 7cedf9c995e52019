# Checks protocol/SPEC.md's test vectors with protocol/. Runs unchanged under
# CPython (imported by test_protocol.py) and MicroPython (run as a script:
# `micropython tests/vector_check.py protocol/SPEC.md` prints one line a vector).
from protocol import frame
from protocol.mac import hmac_sha256


def load(spec_text):
    vectors = []
    inside = False
    for line in spec_text.split("\n"):
        line = line.strip()
        if line.startswith("```"):
            inside = line == "```vectors"
            continue
        if inside and line:
            vectors.append(dict(token.split("=", 1) for token in line.split(" ")))
    return vectors


# Besides the frame, a vector may name what parse() must find in it, in decimal.
COUNTER_PARTS = {"epoch": frame.epoch_of, "sequence": frame.sequence_of}


def check(v):
    """Return None when the vector holds, else what went wrong."""
    h = bytes.fromhex
    if "hmac" in v:
        got = hmac_sha256(h(v["key"]), h(v["message"])).hex()
        return None if got == v["hmac"] else "hmac " + got
    if "receipt" in v:
        got = frame.receipt(h(v["key"]), h(v["mac"])).hex()
        return None if got == v["receipt"] else "receipt " + got
    error = v.get("error")
    if error == "frame":
        try:
            frame.parse(h(v["frame"]))
        except frame.FrameError:
            return None
        return "parse accepted a bad frame"
    parsed = frame.parse(h(v["frame"]))
    if error == "mac":
        return "verified with the wrong key or MAC" if parsed.verify(h(v["key"])) else None
    args = (int(v["type"], 16), int(v["device"], 16), int(v["counter"]), h(v["payload"]))
    if "key" in v:
        built = frame.sign(h(v["key"]), *args)
        if not parsed.verify(h(v["key"])):
            return "does not verify"
    else:
        built = frame.control(*args)
    if built.hex() != v["frame"]:
        return "built " + built.hex()
    if (parsed.type, parsed.device_id, parsed.counter, parsed.payload) != args:
        return "parsed back as %r" % parsed
    fields = parsed.fields()
    for name in v:
        if name in COUNTER_PARTS:
            got = COUNTER_PARTS[name](parsed.counter)
        elif name in fields:
            got = fields[name]
        else:
            continue
        if got != int(v[name]):
            return "%s is %r, not %s" % (name, got, v[name])
    return None


def main(path):
    with open(path) as f:
        vectors = load(f.read())
    for v in vectors:
        problem = check(v)
        print(v["name"], "ok" if problem is None else "FAIL " + problem)


if __name__ == "__main__":
    import sys

    main(sys.argv[1])
