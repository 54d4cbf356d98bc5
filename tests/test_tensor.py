"""AI.TENSORSET / AI.TENSORGET against the spec: tensors.md (types, shapes,
BLOB/VALUES rules, formatting) and commands.md (grammar, error tables and
their check order). Error texts are compared as they are on the wire."""
import resource

import numpy as np
import pytest
from redis.exceptions import ResponseError

NUMPY_DTYPES = {
    "FLOAT": np.float32, "DOUBLE": np.float64,
    "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64,
    "UINT8": np.uint8, "UINT16": np.uint16, "BOOL": np.bool_,
}
ALL_TYPES = [*NUMPY_DTYPES, "STRING"]
FLOAT_TYPES = ("FLOAT", "DOUBLE")
INTEGER_TYPES = ("INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16")
INT64_MAX = 2**63 - 1

ARITY = "ERR wrong number of arguments for '{}' command"
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
TENSOR_EMPTY = "ERR tensor key is empty or in a different shard"
BAD_TYPE = "ERR invalid data type"
BAD_SHAPE = "ERR invalid or negative value found in tensor shape"
BAD_BLOB_ARGS = ("ERR a single binary string should come after the BLOB argument "
                 "in 'AI.TENSORSET' command")
BAD_COUNT = "ERR wrong number of values was given in 'AI.TENSORSET' command"
BAD_LENGTH = "ERR data length does not match tensor shape and type"
BAD_BOOL = "ERR BOOL tensor elements must be 0 or 1"
BAD_STRINGS = "ERR Number of string elements in data blob does not match tensor length"
BAD_VALUE = "ERR invalid value"
NUL_IN_VALUE = "ERR C-string value contains null character"
BAD_FORMAT = "ERR unsupported data format"
BOTH_FORMATS = "ERR both BLOB and VALUES specified"

MiB = 1 << 20


# ---------------------------------------------------------------- helpers

def tset(r, key, *args):
    return r.execute_command("AI.TENSORSET", key, *args)


def tget(r, key, *fmt):
    return r.execute_command("AI.TENSORGET", key, *fmt)


def wire_error(exc):
    """The error line as sent by the server: redis-py strips a known error
    code (ERR, OOM, ...) into `status_code`, unknown codes stay in the text."""
    code = getattr(exc, "status_code", None)
    return f"{code} {exc}" if code else str(exc)


def error_reply(r, *argv):
    with pytest.raises(ResponseError) as info:
        r.execute_command(*argv)
    return wire_error(info.value)


def meta(dtype, shape):
    return [b"dtype", dtype.encode(), b"shape", list(shape)]


def string_blob(elements):
    return b"".join(e + b"\0" for e in elements)


def float_values(reply):
    """RESP2 VALUES of FLOAT/DOUBLE tensors are bulk strings."""
    assert all(isinstance(v, bytes) for v in reply), reply
    return [float(v) for v in reply]


def snapshot(r, key):
    """Everything a failed TENSORSET must leave untouched."""
    kind = r.type(key)
    if kind == b"AI_TENSOR":
        return kind, tget(r, key, "META", "BLOB")
    if kind == b"string":
        return kind, r.get(key)
    return kind, None


def limit_address_space(server, nbytes):
    """Caps the server's virtual memory so that a giant allocation fails with
    ENOMEM instead of succeeding lazily (jemalloc maps with MAP_NORESERVE)
    and then dragging the whole machine into the kernel OOM killer."""
    resource.prlimit(server.proc.pid, resource.RLIMIT_AS, (nbytes, nbytes))


def sample_tensor(dtype, shape=(2, 3)):
    """(blob, VALUES reply) for a tensor of `shape` with varied content:
    extremes of the range, negatives (allowed through BLOB), non-UTF-8 strings."""
    n = int(np.prod(shape))
    if dtype == "STRING":
        elements = [b"a", b"", b"\xff\xfe binary", b"hello world", b"\x01", b"x" * 100][:n]
        return string_blob(elements), elements
    rng = np.random.default_rng(42)
    np_type = NUMPY_DTYPES[dtype]
    if dtype == "BOOL":
        arr = rng.integers(0, 2, n).astype(np.bool_)
    elif dtype in FLOAT_TYPES:
        arr = (rng.standard_normal(n) * 1000).astype(np_type)
    else:
        info = np.iinfo(np_type)
        arr = rng.integers(info.min, info.max, n, dtype=np_type, endpoint=True)
        arr[0], arr[-1] = info.min, info.max
    return arr.reshape(shape).tobytes(), arr.tolist()


def assert_values(dtype, reply, expected):
    """Compares a RESP2 VALUES reply with Python values (floats bit for bit)."""
    if dtype in FLOAT_TYPES:
        np_type = NUMPY_DTYPES[dtype]
        assert np.array(float_values(reply), np_type).tobytes() == np.array(expected, np_type).tobytes()
    elif dtype == "STRING":
        assert reply == expected
    else:
        assert reply == [int(v) for v in expected]


# ------------------------------------------------------------- round trips

@pytest.mark.parametrize("dtype", ALL_TYPES)
def test_blob_round_trip(r, dtype):
    shape = (2, 3)
    blob, values = sample_tensor(dtype, shape)
    assert tset(r, "t", dtype, *shape, "BLOB", blob) == b"OK"
    assert tget(r, "t", "META", "BLOB") == meta(dtype, shape) + [b"blob", blob]
    if dtype != "STRING":
        stored = np.frombuffer(tget(r, "t", "BLOB"), NUMPY_DTYPES[dtype]).reshape(shape)
        np.testing.assert_array_equal(stored, np.array(values, NUMPY_DTYPES[dtype]).reshape(shape))
    assert_values(dtype, tget(r, "t", "VALUES"), values)


# VALUES input tokens (4 of them, shape 2x2) per type; STRING covers the empty element.
VALUES_INPUT = {
    "FLOAT": ["0.5", "-1.25", "3", "-0.1"],
    "DOUBLE": ["0.5", "-1.25", "1e300", "-0.1"],
    "INT8": ["0", "1", "64", "127"],
    "INT16": ["0", "1", "300", "32767"],
    "INT32": ["0", "1", "70000", "2147483647"],
    "INT64": ["0", "1", "4294967296", str(INT64_MAX)],
    "UINT8": ["0", "1", "128", "255"],
    "UINT16": ["0", "1", "40000", "65535"],
    "BOOL": ["0", "1", "1", "0"],
    "STRING": [b"a", b"", b"\xff\xfe", b"hello world"],
}


@pytest.mark.parametrize("dtype", ALL_TYPES)
def test_values_round_trip(r, dtype):
    tokens = VALUES_INPUT[dtype]
    assert tset(r, "t", dtype, 2, 2, "VALUES", *tokens) == b"OK"
    reply = tget(r, "t", "META", "VALUES")
    assert reply[:4] == meta(dtype, (2, 2)) and reply[4] == b"values"
    if dtype == "STRING":
        assert reply[5] == tokens
        expected_blob = string_blob(tokens)
    else:
        np_type = NUMPY_DTYPES[dtype]
        parsed = [float(t) if dtype in FLOAT_TYPES else int(t) for t in tokens]
        assert_values(dtype, reply[5], parsed)
        expected_blob = np.array(parsed, np_type).tobytes()
    assert tget(r, "t", "BLOB") == expected_blob


def test_float_values_text(r):
    """RESP2 doubles: integral values without a decimal point (tensors.md)."""
    tset(r, "t", "FLOAT", 4, "VALUES", "4", "0.5", "-1.25", "1e3")
    assert tget(r, "t", "VALUES") == [b"4", b"0.5", b"-1.25", b"1000"]


@pytest.mark.parametrize("dtype", ALL_TYPES)
def test_resp3_values(shared_server, r, dtype):
    """RESP3: FLOAT/DOUBLE VALUES are native doubles; the rest is unchanged."""
    tokens = VALUES_INPUT[dtype]
    tset(r, "t", dtype, 4, "VALUES", *tokens)
    reply = shared_server.client(protocol=3).execute_command("AI.TENSORGET", "t", "META", "VALUES")
    assert reply[:4] == meta(dtype, [4]) and reply[4] == b"values"
    if dtype in FLOAT_TYPES:
        assert all(type(v) is float for v in reply[5]), reply[5]
        assert reply[5] == [float(np.array(float(t), NUMPY_DTYPES[dtype])) for t in tokens]
    else:
        assert reply[5] == tget(r, "t", "VALUES")


@pytest.mark.parametrize("spelling", ["float", "Float", "dOuBlE", "int8", "Int16", "int32",
                                      "iNT64", "uint8", "Uint16", "bool", "String"])
def test_type_name_case_insensitive(r, spelling):
    assert tset(r, "t", spelling, 1, "VALUES", "1") == b"OK"
    assert tget(r, "t", "META") == meta(spelling.upper(), [1])


TENSORGET_FORMATS = {
    # format tokens -> which parts the reply has (None = bare BLOB / VALUES reply)
    (): ("META", "BLOB"),
    ("META",): ("META",),
    ("BLOB",): "BLOB",
    ("VALUES",): "VALUES",
    ("META", "BLOB"): ("META", "BLOB"),
    ("BLOB", "META"): ("META", "BLOB"),
    ("META", "VALUES"): ("META", "VALUES"),
    ("VALUES", "META"): ("META", "VALUES"),
    ("META", "META"): ("META",),
    ("BLOB", "BLOB"): "BLOB",
    ("VALUES", "VALUES"): "VALUES",
    ("meta", "Values"): ("META", "VALUES"),
    ("blob",): "BLOB",
}


@pytest.mark.parametrize("tokens", TENSORGET_FORMATS, ids=lambda t: "-".join(t) or "none")
def test_tensorget_formats(r, tokens):
    tset(r, "t", "INT32", 2, 2, "VALUES", 1, 2, 3, 4)
    parts = {"BLOB": np.array([1, 2, 3, 4], np.int32).tobytes(), "VALUES": [1, 2, 3, 4]}
    wanted = TENSORGET_FORMATS[tokens]
    if isinstance(wanted, str):
        expected = parts[wanted]
    else:
        expected = meta("INT32", [2, 2])
        for part in wanted[1:]:
            expected += [part.lower().encode(), parts[part]]
    assert tget(r, "t", *tokens) == expected


# ------------------------------------------------------------------ shapes

@pytest.mark.parametrize("args, dtype, values, blob", [
    (("INT64", "VALUES", 7), "INT64", [7], np.int64(7).tobytes()),
    (("FLOAT", "BLOB", np.float32(2.5).tobytes()), "FLOAT", [b"2.5"], np.float32(2.5).tobytes()),
    (("BOOL", "BLOB", b"\x01"), "BOOL", [1], b"\x01"),
    (("STRING", "VALUES", "x"), "STRING", [b"x"], b"x\0"),
    (("STRING", "BLOB", b"\0"), "STRING", [b""], b"\0"),
], ids=["int64-values", "float-blob", "bool-blob", "string-values", "string-blob"])
def test_scalar(r, args, dtype, values, blob):
    """BLOB/VALUES right after the type makes a 0-dim tensor (shape [])."""
    assert tset(r, "t", *args) == b"OK"
    assert tget(r, "t", "META", "VALUES") == meta(dtype, []) + [b"values", values]
    assert tget(r, "t", "BLOB") == blob


@pytest.mark.parametrize("dtype", ALL_TYPES)
def test_zero_filled(r, dtype):
    shape = (2, 3)
    assert tset(r, "t", dtype, *shape) == b"OK"
    size = 1 if dtype == "STRING" else np.dtype(NUMPY_DTYPES[dtype]).itemsize
    assert tget(r, "t", "META", "BLOB") == meta(dtype, shape) + [b"blob", b"\0" * 6 * size]
    expected = {"STRING": [b""] * 6, "FLOAT": [b"0"] * 6, "DOUBLE": [b"0"] * 6}.get(dtype, [0] * 6)
    assert tget(r, "t", "VALUES") == expected


@pytest.mark.parametrize("shape", [(1,), (1, 1, 1), (3, 1, 2), (1,) * 64 + (2,), tuple(range(1, 9))],
                         ids=["1", "1x1x1", "3x1x2", "64-ones", "8-dims"])
def test_many_and_unit_dims(r, shape):
    n = int(np.prod(shape))
    assert tset(r, "t", "UINT16", *shape, "VALUES", *(i % 65536 for i in range(n))) == b"OK"
    assert tget(r, "t", "META") == meta("UINT16", shape)
    assert tget(r, "t", "BLOB") == np.arange(n, dtype=np.uint16).tobytes()
    assert tset(r, "z", "UINT16", *shape) == b"OK"
    assert tget(r, "z", "META", "BLOB") == meta("UINT16", shape) + [b"blob", b"\0" * 2 * n]


# ---------------------------------------------------------- STRING tensors

@pytest.mark.parametrize("shape, blob, elements", [
    ((2,), b"a\0b\0", [b"a", b"b"]),
    ((2,), b"\0\0", [b"", b""]),
    ((3,), b"\0x\0\0", [b"", b"x", b""]),
    ((1,), b"\xff\xfe\x80\0", [b"\xff\xfe\x80"]),
    ((2, 2), b"ab\0\0c\0d\0", [b"ab", b"", b"c", b"d"]),
])
def test_string_blob_valid(r, shape, blob, elements):
    assert tset(r, "t", "STRING", *shape, "BLOB", blob) == b"OK"
    assert tget(r, "t", "META", "VALUES") == meta("STRING", shape) + [b"values", elements]
    assert tget(r, "t", "BLOB") == blob


@pytest.mark.parametrize("tokens, elements", [
    ([b"abc\0", b"d"], [b"abc", b"d"]),       # one trailing NUL allowed, not duplicated
    ([b"\0", b"x"], [b"", b"x"]),              # a lone NUL is an empty element
    ([b"", b""], [b"", b""]),                  # empty argument = empty element
])
def test_string_values_nul_rules(r, tokens, elements):
    assert tset(r, "t", "STRING", 2, "VALUES", *tokens) == b"OK"
    assert tget(r, "t", "VALUES") == elements
    assert tget(r, "t", "BLOB") == string_blob(elements)


# ------------------------------------------------------------ error tables

@pytest.mark.parametrize("argv", [
    ["AI.TENSORSET"], ["AI.TENSORSET", "k"], ["AI.TENSORSET", "k", "FLOAT"],
    ["ai.tensorset", "k", "FLOAT"], ["Ai.TensorSet", "k"],
    ["AI.TENSORSET", "s", "FLOAT"],  # arity (1) precedes WRONGTYPE (2)
])
def test_tensorset_arity(r, argv):
    r.set("s", "x")
    assert error_reply(r, *argv) == ARITY.format(argv[0])
    assert not r.exists("k") and r.get("s") == b"x"


@pytest.mark.parametrize("make_key", [lambda r: r.set("k", "x"), lambda r: r.rpush("k", "x")],
                         ids=["string", "list"])
@pytest.mark.parametrize("args", [
    ("INT32", 2, "garbage"), ("FOO", 2), ("FLOAT", -1), ("FLOAT", 2, "BLOB"),
    ("FLOAT", 2, "VALUES", 1), ("FLOAT", 2, "VALUES", 1, 2),
], ids=str)
def test_tensorset_wrongtype_first(r, make_key, args):
    """The key-type check (2) precedes every syntax check, even for valid input."""
    make_key(r)
    before = r.dump("k")
    assert error_reply(r, "AI.TENSORSET", "k", *args) == WRONGTYPE
    assert r.dump("k") == before


def case(error, *args):
    """A row of TENSORSET_ERRORS: arguments after the key and the error."""
    def show(arg):
        plain = isinstance(arg, int) or (isinstance(arg, str) and arg.strip() == arg != "")
        return str(arg) if plain else repr(arg)
    return pytest.param(args, error, id=" ".join(map(show, args))[:80])


TENSORSET_ERRORS = [
    # 3: type name
    *(case(BAD_TYPE, name, 2) for name in
      ["FOO", "UINT32", "UINT64", "FLOAT16", "BFLOAT16", "uint32", "COMPLEX64", "", "FLOAT "]),
    case(BAD_TYPE, "FOO", -1),                   # 3 before 4
    case(BAD_TYPE, "FOO", "BLOB"),
    # 4: dimensions (strict integers >= 1, product must fit int64)
    *(case(BAD_SHAPE, "FLOAT", d) for d in
      [0, -1, "2.0", "+2", "02", " 2", "2 ", "abc", "", "-0", "1e3", 2**63, -2**63]),
    case(BAD_SHAPE, "FLOAT", 2, "META"),          # unexpected keyword is a bad dim
    case(BAD_SHAPE, "FLOAT", 2, 0, 2),
    case(BAD_SHAPE, "FLOAT", 2**32, 2**32),       # product overflows int64
    case(BAD_SHAPE, "INT8", 3037000500, 3037000500),
    case(BAD_SHAPE, "INT8", 2**62, 4),
    case(BAD_SHAPE, "FLOAT", 0, "BLOB"),          # 4 before 5
    case(BAD_SHAPE, "FLOAT", -2, "VALUES", 1),    # 4 before 6
    case(BAD_SHAPE, "FLOAT", 2**32, 2**32, "VALUES", 1),
    # 5: BLOB takes exactly one argument
    case(BAD_BLOB_ARGS, "FLOAT", 2, "BLOB"),
    case(BAD_BLOB_ARGS, "FLOAT", "BLOB"),
    case(BAD_BLOB_ARGS, "FLOAT", 2, "blob", b"\0" * 8, b"x"),
    case(BAD_BLOB_ARGS, "FLOAT", 1, "BLOB", "ab", "cd"),              # 5 before 7
    case(BAD_BLOB_ARGS, "FLOAT", 2, "BLOB", b"\0" * 8, "VALUES", 1, 2),
    # 6: VALUES count == product(dims)
    case(BAD_COUNT, "FLOAT", 2, "VALUES", 1),
    case(BAD_COUNT, "FLOAT", 2, "VALUES", 1, 2, 3),
    case(BAD_COUNT, "FLOAT", 2, "VALUES"),
    case(BAD_COUNT, "FLOAT", "VALUES"),
    case(BAD_COUNT, "FLOAT", "values", 1, 2),
    case(BAD_COUNT, "INT8", 2, 2, "VALUES", 1, 2, 3),
    case(BAD_COUNT, "INT8", 2, "VALUES", "x"),                         # 6 before 10
    case(BAD_COUNT, "FLOAT", 1, "VALUES", 1, "BLOB"),
    # 7: BLOB length
    case(BAD_LENGTH, "FLOAT", 2, "BLOB", b"\0" * 7),
    case(BAD_LENGTH, "FLOAT", 2, "BLOB", b"\0" * 9),
    case(BAD_LENGTH, "DOUBLE", "BLOB", b"\0" * 4),
    case(BAD_LENGTH, "INT16", 3, "BLOB", b"\0" * 5),
    case(BAD_LENGTH, "FLOAT", 2, "BLOB", b""),
    case(BAD_LENGTH, "UINT8", 2, 2, "BLOB", b"abc"),
    case(BAD_LENGTH, "BOOL", 2, "BLOB", b"\x02"),                      # 7 before 8
    # 8: BOOL bytes (including the last one)
    case(BAD_BOOL, "BOOL", 2, "BLOB", b"\x02\x00"),
    case(BAD_BOOL, "BOOL", 2, "BLOB", b"\x00\x02"),
    case(BAD_BOOL, "BOOL", 2, "BLOB", b"\x01\xff"),
    case(BAD_BOOL, "BOOL", "BLOB", b"\x02"),
    # 9: STRING blob: ends with NUL and NUL count == product(dims)
    *(case(BAD_STRINGS, "STRING", 2, "BLOB", blob) for blob in
      [b"single c-string\0", b"one\0two\0three\0", b"C-string\0followed by a non C-string",
       b"", b"a\0b", b"ab", b"\0\0\0"]),
    case(BAD_STRINGS, "STRING", "BLOB", b"abc"),
    # 10: numeric VALUES; every negative is rejected (reference behaviour)
    *(case(BAD_VALUE, t, "VALUES", v) for t, v in [
        ("INT8", 128), ("INT8", -1), ("INT16", 32768), ("INT16", -1),
        ("INT32", 2**31), ("INT32", -1), ("INT64", 2**63), ("INT64", -1), ("INT64", -2**63),
        ("UINT8", 256), ("UINT8", -1), ("UINT16", 65536), ("UINT16", -1),
        ("BOOL", 2), ("BOOL", -1), ("BOOL", "true")]),
    case(BAD_VALUE, "INT8", 2, "VALUES", -1, -128),
    case(BAD_VALUE, "INT8", 2, "VALUES", 1, 128),
    *(case(BAD_VALUE, "INT32", "VALUES", v) for v in
      ["1.87", "1.0", "+1", "007", "-0", "", " 1", "1 ", "0x10", "1e3", "abc"]),
    *(case(BAD_VALUE, t, "VALUES", v) for t in FLOAT_TYPES for v in
      ["nan", "NaN", "-nan", "1.0x", "", " 1", "1 ", "abc", "1,5", "1e999", "-1e999"]),
    case(BAD_VALUE, "DOUBLE", "VALUES", "1e-400"),                     # underflow to zero
    case(BAD_VALUE, "FLOAT", 2, "VALUES", 1, "nan"),
    # 11: STRING VALUES with a NUL that is not the last byte
    *(case(NUL_IN_VALUE, "STRING", "VALUES", v) for v in [b"a\0b", b"\0\0", b"\0a", b"ab\0\0"]),
    case(NUL_IN_VALUE, "STRING", 2, "VALUES", b"fine", b"x\0y"),
]


@pytest.mark.parametrize("previous", ["absent", "tensor"])
@pytest.mark.parametrize("args, error", TENSORSET_ERRORS)
def test_tensorset_error(r, previous, args, error):
    """Each row of the error table, in check order; a failed TENSORSET creates
    nothing and leaves an existing tensor (and its TTL) alone."""
    if previous == "tensor":
        tset(r, "k", "INT32", 2, "VALUES", 5, 6)
        r.expire("k", 1000)
    before = snapshot(r, "k")
    assert error_reply(r, "AI.TENSORSET", "k", *args) == error
    assert snapshot(r, "k") == before
    if previous == "tensor":
        assert r.ttl("k") > 0


@pytest.mark.parametrize("dtype, tokens, expected", [
    ("INT8", [0, 127], [0, 127]),
    ("INT16", [32767], [32767]),
    ("INT32", [2**31 - 1], [2**31 - 1]),
    ("INT64", [INT64_MAX], [INT64_MAX]),
    ("UINT8", [255], [255]),
    ("UINT16", [65535], [65535]),
    ("BOOL", [0, 1], [0, 1]),
    ("FLOAT", ["inf", "-inf", "infinity", "-Infinity", "1e39"],
     [float("inf"), float("-inf"), float("inf"), float("-inf"), float("inf")]),
    ("DOUBLE", ["1e-310", "-0", ".5", "5.", "0x10", "1E2"], [1e-310, -0.0, 0.5, 5.0, 16.0, 100.0]),
], ids=lambda v: v if isinstance(v, str) else None)
def test_values_accepted_edges(r, dtype, tokens, expected):
    """The full positive range, infinities, and strtod syntax are accepted."""
    assert tset(r, "t", dtype, len(tokens), "VALUES", *tokens) == b"OK"
    reply = tget(r, "t", "VALUES")
    assert (float_values(reply) if dtype in FLOAT_TYPES else reply) == expected


@pytest.mark.parametrize("argv, error", [
    (["AI.TENSORGET"], ARITY.format("AI.TENSORGET")),
    (["ai.tensorget"], ARITY.format("ai.tensorget")),
    (["AI.TENSORGET", "t", "META", "BLOB", "META"], ARITY.format("AI.TENSORGET")),
    (["AI.TENSORGET", "missing", "META", "META", "META"], ARITY.format("AI.TENSORGET")),
    (["AI.TENSORGET", "missing"], TENSOR_EMPTY),
    (["AI.TENSORGET", "missing", "FOO"], TENSOR_EMPTY),             # 2 before 4
    (["AI.TENSORGET", "missing", "BLOB", "VALUES"], TENSOR_EMPTY),
    (["AI.TENSORGET", "s"], WRONGTYPE),
    (["AI.TENSORGET", "s", "FOO"], WRONGTYPE),                      # 3 before 4
    (["AI.TENSORGET", "s", "BLOB", "VALUES"], WRONGTYPE),
    (["AI.TENSORGET", "t", "FOO"], BAD_FORMAT),
    (["AI.TENSORGET", "t", ""], BAD_FORMAT),
    (["AI.TENSORGET", "t", "META", "FOO"], BAD_FORMAT),
    (["AI.TENSORGET", "t", "FOO", "META"], BAD_FORMAT),
    (["AI.TENSORGET", "t", "BLOB", "FOO"], BAD_FORMAT),
    (["AI.TENSORGET", "t", "BLOB", "VALUES"], BOTH_FORMATS),
    (["AI.TENSORGET", "t", "values", "blob"], BOTH_FORMATS),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_tensorget_errors(r, argv, error):
    tset(r, "t", "FLOAT", 1, "VALUES", 1)
    r.set("s", "x")
    assert error_reply(r, *argv) == error


# -------------------------------------------------------------- keyspace

def test_type_is_ai_tensor(r):
    tset(r, "t", "FLOAT", 1)
    assert r.type("t") == b"AI_TENSOR"


def test_overwrite_replaces_value_and_clears_ttl(r):
    tset(r, "t", "FLOAT", 2, "VALUES", 1, 2)
    r.expire("t", 100)
    assert tset(r, "t", "INT8", 3, "VALUES", 7, 8, 9) == b"OK"
    assert tget(r, "t", "META", "VALUES") == meta("INT8", [3]) + [b"values", [7, 8, 9]]
    assert r.ttl("t") == -1


SAMPLE_TENSORS = {
    "float": ("FLOAT", 2, 2, "VALUES", 1, 2, 3, 4),
    "string": ("STRING", 3, "VALUES", "a", "", "ccc"),
    "bool-zeros": ("BOOL", 5),
}


@pytest.mark.parametrize("args", SAMPLE_TENSORS.values(), ids=SAMPLE_TENSORS.keys())
def test_copy(r, args):
    tset(r, "src", *args)
    original = tget(r, "src", "META", "BLOB")
    assert r.copy("src", "dst")
    assert tget(r, "dst", "META", "BLOB") == original
    r.delete("src")
    assert tget(r, "dst", "META", "BLOB") == original
    assert r.type("dst") == b"AI_TENSOR"


@pytest.mark.parametrize("args", SAMPLE_TENSORS.values(), ids=SAMPLE_TENSORS.keys())
def test_rename(r, args):
    tset(r, "src", *args)
    original = tget(r, "src", "META", "BLOB")
    assert r.rename("src", "dst")
    assert not r.exists("src")
    assert tget(r, "dst", "META", "BLOB") == original


def test_transaction(r):
    pipe = r.pipeline(transaction=True)
    pipe.execute_command("AI.TENSORSET", "t", "FLOAT", 2, "VALUES", 1, 2.5)
    pipe.execute_command("AI.TENSORSET", "bad", "FLOAT", 2, "VALUES", 1)
    pipe.execute_command("AI.TENSORGET", "t", "META", "VALUES")
    ok, failed, got = pipe.execute(raise_on_error=False)
    assert ok == b"OK"
    assert isinstance(failed, ResponseError) and wire_error(failed) == BAD_COUNT
    assert got == meta("FLOAT", [2]) + [b"values", [b"1", b"2.5"]]
    assert not r.exists("bad")


def test_lua(r):
    set_script = "return redis.call('AI.TENSORSET', KEYS[1], 'FLOAT', 1, 'VALUES', 3)"
    assert r.eval(set_script, 1, "t") == b"OK"
    assert r.eval("return redis.call('AI.TENSORGET', KEYS[1], 'VALUES')", 1, "t") == [b"3"]
    assert tget(r, "t", "META") == meta("FLOAT", [1])
    with pytest.raises(ResponseError, match="invalid data type"):
        r.eval("return redis.call('AI.TENSORSET', KEYS[1], 'UINT32', 1)", 1, "u")
    assert not r.exists("u")


# ------------------------------------------------------------------ memory

def used_memory(r):
    return r.info("memory")["used_memory"]


@pytest.mark.parametrize("args", [("UINT8", MiB), ("DOUBLE", 256, 512), ("STRING", MiB),
                                  ("UINT8", MiB, "BLOB", b"\x07" * MiB)],
                         ids=["uint8-zeros", "double-zeros", "string-zeros", "uint8-blob"])
def test_memory_usage_reflects_tensor_size(r, args):
    tset(r, "small", "UINT8", 1)
    tset(r, "big", *args)
    assert r.memory_usage("big", samples=0) >= MiB
    assert r.memory_usage("small", samples=0) < 4096


def test_used_memory_follows_tensor(r):
    """Tensor data is allocated with the Redis allocator (tensors.md). The
    zero-filled form keeps a 1 MiB argument out of the query buffer."""
    before = used_memory(r)
    tset(r, "t", "UINT8", MiB)
    grown = used_memory(r) - before
    assert MiB <= grown <= 1.5 * MiB, grown
    r.delete("t")
    assert abs(used_memory(r) - before) < 128 * 1024


def test_maxmemory_fill_until_oom(server_factory):
    client = server_factory(config=["--maxmemory", "2mb"]).client()
    for n in range(1000):
        try:
            tset(client, f"t{n}", "UINT8", 64 * 1024)
        except ResponseError as exc:
            assert wire_error(exc).startswith("OOM"), wire_error(exc)
            break
    else:
        pytest.fail("2mb server accepted 64 MB of tensors")
    assert not client.exists(f"t{n}")
    assert client.ping()
    if n:
        assert len(tget(client, "t0", "BLOB")) == 64 * 1024
        client.delete(*(f"t{i}" for i in range(n)))
    assert tset(client, "again", "UINT8", 64 * 1024) == b"OK"


@pytest.mark.parametrize("previous", ["absent", "tensor"])
def test_maxmemory_refuses_huge_zero_filled(server_factory, previous):
    """400 MB of zeros is one small command, so only the module can see it
    will not fit: it must refuse it rather than allocate past maxmemory."""
    client = server_factory(config=["--maxmemory", "2mb"]).client()
    if previous == "tensor":
        tset(client, "k", "FLOAT", 2, "VALUES", 1, 2)
    before = snapshot(client, "k")
    with pytest.raises(ResponseError) as info:
        tset(client, "k", "FLOAT", 100_000_000)
    assert wire_error(info.value).startswith("OOM"), wire_error(info.value)
    assert snapshot(client, "k") == before
    assert client.ping()


def test_unallocatable_zero_filled_is_an_error(server_factory):
    """2**40 floats (4 TiB) does not overflow but cannot be allocated on a
    server without maxmemory: an error reply, not a crash or a hang."""
    server = server_factory()
    limit_address_space(server, 4 << 30)
    client = server.client()
    with pytest.raises(ResponseError):
        tset(client, "k", "FLOAT", 2**20, 2**20)
    assert client.ping()
    assert not client.exists("k")
    assert tset(client, "k", "FLOAT", 2, "VALUES", 1, 2) == b"OK"


TOO_LARGE = "ERR tensor too large: without BLOB or VALUES it may not exceed proto-max-bulk-len bytes"
REPLY_OOM = "OOM not enough memory for the reply"


@pytest.mark.parametrize("previous", ["absent", "tensor"])
def test_zero_filled_tensor_is_bounded_by_proto_max_bulk_len(r, previous):
    """29 bytes of command must not make 4 GiB: a tensor without BLOB or
    VALUES is no larger than the BLOB the client could have sent."""
    if previous == "tensor":
        tset(r, "k", "FLOAT", 2, "VALUES", 1, 2)
    before = snapshot(r, "k")
    for args in [("BOOL", 4294967296), ("UINT8", 512 * MiB + 1), ("FLOAT", 128 * MiB + 1),
                 ("STRING", 512 * MiB + 1), ("DOUBLE", 2**20, 2**20)]:
        assert error_reply(r, "AI.TENSORSET", "k", *args) == TOO_LARGE
    assert snapshot(r, "k") == before


def test_zero_filled_limit_follows_config_set(server_factory):
    client = server_factory().client()
    client.config_set("proto-max-bulk-len", MiB)
    assert tset(client, "k", "FLOAT", 2, MiB // 8) == b"OK"             # exactly the limit
    assert error_reply(client, "AI.TENSORSET", "k", "FLOAT", MiB // 4 + 1) == TOO_LARGE
    assert error_reply(client, "AI.TENSORSET", "k", "STRING", MiB + 1) == TOO_LARGE
    assert tget(client, "k", "META") == meta("FLOAT", [2, MiB // 8])
    # What a client can send stays accepted.
    assert tset(client, "k", "UINT8", MiB, "BLOB", bytes(MiB)) == b"OK"
    client.config_set("proto-max-bulk-len", 4 * MiB)
    assert tset(client, "k", "FLOAT", MiB) == b"OK"


@pytest.fixture
def large_tensor_server(server_factory):
    """16 MiB of FLOAT zeros (4 Mi elements, VALUES about 128 MiB on the wire)
    under a maxmemory that leaves 48 MiB free."""
    client = server_factory().client()
    assert tset(client, "big", "FLOAT", 4 * MiB) == b"OK"
    client.config_set("maxmemory", used_memory(client) + 48 * MiB)
    return client


@pytest.mark.parametrize("fmt", [(), ("BLOB", "META"), ("VALUES",), ("META", "VALUES")])
def test_tensorget_that_would_exceed_maxmemory_replies_oom(large_tensor_server, fmt):
    client = large_tensor_server
    client.config_set("maxmemory", used_memory(client) + 8 * MiB)
    assert error_reply(client, "AI.TENSORGET", "big", *fmt) == REPLY_OOM
    assert client.ping()
    assert tget(client, "big", "META") == meta("FLOAT", [4 * MiB])
    if "VALUES" not in fmt:             # (4 Mi VALUES would take seconds to decode here)
        client.config_set("maxmemory", 0)
        assert tget(client, "big", *fmt)[-1] == bytes(16 * MiB)


def test_tensorget_forms_are_checked_by_their_own_size(large_tensor_server):
    """48 MiB free: the 16 MiB BLOB fits, 4 Mi VALUES do not."""
    client = large_tensor_server
    assert len(tget(client, "big", "BLOB")) == 16 * MiB
    assert tget(client, "big")[-1] == bytes(16 * MiB)
    assert error_reply(client, "AI.TENSORGET", "big", "VALUES") == REPLY_OOM
    assert tset(client, "small", "FLOAT", 2, "VALUES", 1, 2) == b"OK"
    assert tget(client, "small", "VALUES") == [b"1", b"2"]
    assert client.ping()


@pytest.mark.parametrize("dtype, shape, values", [
    ("FLOAT", [2, 3], np.arange(6, dtype=np.float32)),
    ("INT16", [4], np.array([-3, 0, 7, 32767], dtype=np.int16)),
    ("BOOL", [3], np.array([1, 0, 1], dtype=np.bool_)),
    ("UINT8", [300000], np.arange(300000, dtype=np.uint32).astype(np.uint8)),   # kept argument
])
def test_python_sees_tensor_memory_without_a_copy(r, dtype, shape, values):
    """AI._TENSORVIEW runs numpy inside redis-server on a buffer-protocol view
    of the tensor: the array's data pointer is the module's memory."""
    r.execute_command("AI.TENSORSET", "t", dtype, *shape, "BLOB", values.tobytes())
    reply = r.execute_command("AI._TENSORVIEW", "t")
    view = dict(zip(reply[::2], reply[1::2]))
    assert view[b"zero_copy"] == 1
    assert view[b"dtype"] == values.dtype.name.encode()
    assert view[b"shape"] == shape
    assert float(view[b"sum"]) == pytest.approx(float(values.astype(np.float64).sum()))


def test_tensorview_errors(r):
    r.set("s", "x")
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        r.execute_command("AI._TENSORVIEW", "s")
    with pytest.raises(ResponseError, match="tensor key is empty"):
        r.execute_command("AI._TENSORVIEW", "missing")
