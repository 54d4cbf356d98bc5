"""The RDB encoding of the module's values (spec/persistence-replication-cluster.md),
written and read by the tests: DUMP payloads and whole RDB files, with the
layouts of every encoding version. A value is a list of ints (module
"unsigned"s) and bytes (string buffers)."""
import struct

import numpy as np

RDB_TYPE_MODULE_2 = 7
OPCODE_EOF, OPCODE_UINT, OPCODE_STRING = 0, 2, 5        # inside a module value
RDB_OPCODE_SELECTDB, RDB_OPCODE_EOF = 0xFE, 0xFF
MODULE_ID_CHARSET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# DLPack (code, bits) of each dtype: what the tensor layouts store.
DLPACK = {"FLOAT": (2, 32), "DOUBLE": (2, 64), "INT8": (0, 8), "INT16": (0, 16), "INT32": (0, 32),
          "INT64": (0, 64), "UINT8": (1, 8), "UINT16": (1, 16), "BOOL": (6, 8), "STRING": (7, 8)}
BACKENDS = {"TF": 0, "TFLITE": 1, "TORCH": 2, "ONNX": 3}


def crc64(data):
    """Redis's CRC-64/Jones (reflected), the checksum of DUMP payloads and RDB files."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x95AC9329AC4BC9B5 if crc & 1 else 0)
    return crc


def rdb_len(value):
    if value < 1 << 6:
        return bytes([value])
    if value < 1 << 14:
        return bytes([0x40 | value >> 8, value & 0xFF])
    if value < 1 << 32:
        return b"\x80" + value.to_bytes(4, "big")
    return b"\x81" + value.to_bytes(8, "big")


def rdb_string(data):
    return rdb_len(len(data)) + data


def module_fields(values):
    """A module value's fields with their opcodes (ints are unsigned, bytes
    string buffers), then the EOF opcode."""
    out = b""
    for value in values:
        if isinstance(value, int):
            out += rdb_len(OPCODE_UINT) + rdb_len(value)
        else:
            out += rdb_len(OPCODE_STRING) + rdb_string(value)
    return out + rdb_len(OPCODE_EOF)


def module_value(type_name, encver, values):
    """A module value after its RDB type byte: the module id (type name and
    encoding version), then its fields."""
    module_id = 0
    for char in type_name:
        module_id = module_id << 6 | MODULE_ID_CHARSET.index(char)
    return rdb_len(module_id << 10 | encver) + module_fields(values)


def seal(body, rdb_version_footer):
    """A DUMP payload (RESTORE's input): the value, the RDB version footer and
    its CRC-64."""
    data = body + rdb_version_footer
    return data + struct.pack("<Q", crc64(data))


def make_dump(type_name, encver, values, rdb_version_footer):
    return seal(bytes([RDB_TYPE_MODULE_2]) + module_value(type_name, encver, values), rdb_version_footer)


def rdb_file(entries, rdb_version):
    """An RDB file of database 0 holding `entries`: {key: (type name, encver, values)}."""
    out = b"REDIS%04d" % rdb_version + bytes([RDB_OPCODE_SELECTDB]) + rdb_len(0)
    for key, (type_name, encver, values) in entries.items():
        out += bytes([RDB_TYPE_MODULE_2]) + rdb_string(key.encode())
        out += module_value(type_name, encver, values)
    out += bytes([RDB_OPCODE_EOF])
    return out + struct.pack("<Q", crc64(out))


class RdbReader:
    """Reads the module-value part of a DUMP payload."""

    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        chunk = self.data[self.pos:self.pos + n]
        assert len(chunk) == n, "payload truncated"
        self.pos += n
        return chunk

    def length(self):
        first = self.take(1)[0]
        kind = first >> 6
        if kind == 0:
            return first & 0x3F, False
        if kind == 1:
            return (first & 0x3F) << 8 | self.take(1)[0], False
        if first == 0x80:
            return int.from_bytes(self.take(4), "big"), False
        if first == 0x81:
            return int.from_bytes(self.take(8), "big"), False
        return first & 0x3F, True          # an encoded string

    def string(self):
        value, encoded = self.length()
        if not encoded:
            return self.take(value)
        # Short strings that spell an integer are stored as that integer.
        size = {0: 1, 1: 2, 2: 4}.get(value)
        assert size, f"compressed string in payload (encoding {value}): run with rdbcompression no"
        return str(int.from_bytes(self.take(size), "little", signed=True)).encode()

    def module_values(self):
        """The values up to the EOF opcode of a module value."""
        values = []
        while True:
            opcode, _ = self.length()
            if opcode == OPCODE_EOF:
                return values
            assert opcode in (OPCODE_UINT, OPCODE_STRING), f"unexpected opcode {opcode}"
            values.append(self.length()[0] if opcode == OPCODE_UINT else self.string())


def parse_dump(payload):
    """(module type name, encoding version, values) of a DUMP payload."""
    body, footer = payload[:-10], payload[-10:]
    assert struct.unpack("<Q", footer[2:])[0] == crc64(payload[:-8])
    reader = RdbReader(body)
    assert reader.take(1)[0] == RDB_TYPE_MODULE_2
    module_id, _ = reader.length()
    name = "".join(MODULE_ID_CHARSET[module_id >> (10 + 6 * (8 - i)) & 63] for i in range(9))
    values = reader.module_values()
    assert reader.pos == len(body), "bytes after the module value"
    return name, module_id & 1023, values


# --- the layouts of each encoding version (the spec's tables) -------------------------------------

def cstring(text):
    """A C-string buffer: the text and its NUL."""
    return (text if isinstance(text, bytes) else text.encode()) + b"\0"


def tensor_layout(encver, dtype, shape, blob):
    code, bits = DLPACK[dtype]
    if encver < 4:      # a DLPack header: CPU device 1, device id, bits before code, lanes
        strides = [int(np.prod(shape[i + 1:], dtype=np.int64)) for i in range(len(shape))]
        return [1, 0, bits, code, 1, len(shape), *shape, *strides, 0, blob]
    values = [code, bits, len(shape), *shape, blob]
    if dtype == "STRING":
        offset = 0
        for element in blob.split(b"\0")[:-1]:
            values.append(offset)
            offset += len(element) + 1
    return values


def model_layout(encver, backend, device, tag, batch, minbatch, mintimeout, inputs, outputs, blob,
                 chunk_size):
    values = [BACKENDS[backend], cstring(device), cstring(tag) if encver == 0 else tag.encode(),
              batch, minbatch]
    if encver >= 2:
        values.append(mintimeout)
    for names in (inputs, outputs):
        values += [len(names), *map(cstring, names)]
    if encver == 0:
        return values + [blob]
    chunks = [blob[i:i + chunk_size] for i in range(0, len(blob) // chunk_size * chunk_size + 1,
                                                     chunk_size)]
    return values + [len(blob), len(chunks), *chunks]


def script_layout(encver, device, tag, source, entry_points):
    values = [cstring(device), cstring(tag) if encver == 0 else tag.encode(), cstring(source)]
    if encver >= 3:
        values += [len(entry_points), *map(cstring, entry_points)]
    return values
