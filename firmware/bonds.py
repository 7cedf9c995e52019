# Bonding keys, kept in flash for the radio (_IRQ_GET_SECRET/_IRQ_SET_SECRET),
# as aioble's security module does. They are saved at once: a bond must
# survive a power cut right after pairing.
import json

from firmware.flash import write_atomic

PATH = "data/bonds.json"


class Bonds:
    def __init__(self, path=PATH):
        self.path = path
        self._secrets = {}  # (sec_type, key hex) -> value hex
        try:
            with open(path) as f:
                for sec_type, key, value in json.load(f):
                    self._secrets[(sec_type, key)] = value
        except (OSError, ValueError):
            pass

    def get(self, sec_type, index, key):
        if key is None:
            values = [v for (t, _), v in sorted(self._secrets.items()) if t == sec_type]
            return bytes.fromhex(values[index]) if index < len(values) else None
        value = self._secrets.get((sec_type, bytes(key).hex()))
        return None if value is None else bytes.fromhex(value)

    def set(self, sec_type, key, value):
        entry = (sec_type, bytes(key).hex())
        if value is None:
            self._secrets.pop(entry, None)
        else:
            self._secrets[entry] = bytes(value).hex()
        try:
            self._save()
        except OSError as error:  # a full flash: the radio is told the bond was not kept
            print("msa: bond not saved:", error)
            return False
        return True

    def __len__(self):
        return len(self._secrets)

    def _save(self):
        entries = [[t, k, v] for (t, k), v in self._secrets.items()]
        write_atomic(self.path, json.dumps(entries))
