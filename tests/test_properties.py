"""Property test: random AI.TENSORSET / AI.TENSORGET argument vectors checked
against a small Python model of the spec (commands.md check order and error
texts, tensors.md value rules). Every reply must be the modelled value or the
modelled error, the server must keep answering, and a failed TENSORSET must
leave the key exactly as it was."""
import ctypes
import itertools
import math
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from redis.exceptions import ResponseError

from conftest import Server
from test_tensor import (ALL_TYPES, ARITY, BAD_BLOB_ARGS, BAD_BOOL, BAD_COUNT, BAD_FORMAT,
                         BAD_LENGTH, BAD_SHAPE, BAD_STRINGS, BAD_TYPE, BAD_VALUE, BOTH_FORMATS,
                         FLOAT_TYPES, INT64_MAX, NUL_IN_VALUE, NUMPY_DTYPES, TENSOR_EMPTY,
                         TOO_LARGE, WRONGTYPE, limit_address_space, snapshot, wire_error)

MAXMEMORY = 256 << 20
PROTO_MAX_BULK_LEN = 512 << 20     # the server's default: zero-filled tensors past it are refused
SURELY_FITS = 1 << 20       # zero-filled tensors up to this size must be created
SIZES = {name: (1 if name == "STRING" else np.dtype(t).itemsize)
         for name, t in {**NUMPY_DTYPES, "STRING": None}.items()}
INT_RANGES = {"INT8": 127, "INT16": 32767, "INT32": 2**31 - 1, "INT64": INT64_MAX,
              "UINT8": 255, "UINT16": 65535, "BOOL": 1}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """maxmemory makes giant zero-filled shapes a refusal instead of a RAM
    grab; the address-space cap is a safety net should the module not check."""
    srv = Server(tmp_path_factory.mktemp("props"), config=["--maxmemory", MAXMEMORY])
    srv.start()
    limit_address_space(srv, 4 << 30)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server):
    return server.client()


# ------------------------------------------------------------------ model

class Refused(Exception):
    """The modelled reply is an error; `allowed` are the acceptable texts
    (several only where the spec leaves the choice open). With `or_stored`,
    success storing that tensor is acceptable too."""

    def __init__(self, *allowed, or_stored=None):
        super().__init__(allowed)
        self.allowed = allowed
        self.or_stored = or_stored


STRICT_INT = re.compile(rb"-?[1-9][0-9]*|0")   # Redis string2ll: no '+', no leading 0, no "-0"


def strict_int(token):
    if not STRICT_INT.fullmatch(token):
        return None
    value = int(token)
    return value if -2**63 <= value <= INT64_MAX else None


_libc = ctypes.CDLL(None, use_errno=True)
_libc.strtod.restype = ctypes.c_double
_libc.strtod.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p)]
ERANGE = 34


def string_to_double(token):
    """RedisModule_StringToDouble: C strtod over the whole string, refusing
    empty input, leading whitespace, overflow, underflow to zero and NaN."""
    if not token or b"\0" in token or token[:1] in b" \t\n\v\f\r":
        return None
    buf = ctypes.create_string_buffer(token)
    end = ctypes.c_char_p()
    ctypes.set_errno(0)
    value = _libc.strtod(buf, ctypes.byref(end))
    errno = ctypes.get_errno()
    consumed = ctypes.cast(end, ctypes.c_void_p).value - ctypes.addressof(buf)
    if consumed != len(token) or math.isnan(value):
        return None
    if errno == ERANGE and (math.isinf(value) or value == 0):
        return None
    return value


def encode_values(dtype, tokens):
    """The stored blob for VALUES tokens, or Refused (checks 10 and 11)."""
    if dtype == "STRING":
        elements = [t[:-1] if t.endswith(b"\0") else t for t in tokens]
        if any(b"\0" in e for e in elements):
            raise Refused(NUL_IN_VALUE)
        return b"".join(e + b"\0" for e in elements)
    if dtype in FLOAT_TYPES:
        parsed = [string_to_double(t) for t in tokens]
    else:
        parsed = [strict_int(t) for t in tokens]
        parsed = [v if v is not None and 0 <= v <= INT_RANGES[dtype] else None for v in parsed]
    if None in parsed:
        raise Refused(BAD_VALUE)
    with np.errstate(over="ignore"):      # FLOAT out of range becomes +-inf silently
        return np.array(parsed, NUMPY_DTYPES[dtype]).tobytes()


def check_blob(dtype, numel, blob):
    """Checks 7 to 9 for a BLOB argument."""
    if dtype == "STRING":
        if not blob.endswith(b"\0") or blob.count(b"\0") != numel:
            raise Refused(BAD_STRINGS)
        return blob
    if len(blob) != numel * SIZES[dtype]:
        raise Refused(BAD_LENGTH)
    if dtype == "BOOL" and blob.strip(b"\0\1"):
        raise Refused(BAD_BOOL)
    return blob


def model_tensorset(name, key_kind, tokens):
    """(dtype, shape, blob) the tensor must hold, blob None when it is too
    big to compare; raises Refused. `tokens` follow the key."""
    if len(tokens) < 2:
        raise Refused(ARITY.format(name))
    if key_kind == "string":
        raise Refused(WRONGTYPE)
    dtype = tokens[0].upper().decode("latin-1")
    if dtype not in ALL_TYPES:
        raise Refused(BAD_TYPE)
    rest = tokens[1:]
    split = next((i for i, t in enumerate(rest) if t.upper() in (b"BLOB", b"VALUES")), len(rest))
    shape = [strict_int(t) for t in rest[:split]]
    if any(d is None or d < 1 for d in shape) or math.prod(shape) > INT64_MAX:
        raise Refused(BAD_SHAPE)
    numel = math.prod(shape)
    nbytes = numel * SIZES[dtype]
    # Byte sizes past int64 are unspecified: a shape error or OOM are both fine
    # (they may even come before the BLOB/VALUES checks).
    huge = (BAD_SHAPE,) if nbytes > INT64_MAX else ()
    keyword, payload = (rest[split].upper(), rest[split + 1:]) if split < len(rest) else (None, [])
    try:
        if keyword == b"BLOB":
            if len(payload) != 1:
                raise Refused(BAD_BLOB_ARGS)
            return dtype, shape, check_blob(dtype, numel, payload[0])
        if keyword == b"VALUES":
            if len(payload) != numel:
                raise Refused(BAD_COUNT)
            return dtype, shape, encode_values(dtype, payload)
    except Refused as refused:
        raise Refused(*refused.allowed, *huge) from None
    if nbytes > PROTO_MAX_BULK_LEN:
        raise Refused(TOO_LARGE, *huge)
    if nbytes >= MAXMEMORY:
        raise Refused("OOM", *huge)
    if nbytes > SURELY_FITS:        # may or may not fit next to what the server holds
        raise Refused("OOM", or_stored=(dtype, shape, None))
    return dtype, shape, b"\0" * nbytes


def model_tensorget(name, stored, formats):
    """Modelled TENSORGET reply for `stored` = (dtype, shape, blob), None
    (no key) or "string" (a key of another type)."""
    if not 0 <= len(formats) <= 2:
        raise Refused(ARITY.format(name))
    if stored is None:
        raise Refused(TENSOR_EMPTY)
    if stored == "string":
        raise Refused(WRONGTYPE)
    wanted = {f.upper() for f in formats} or {b"META", b"BLOB"}
    if wanted - {b"META", b"BLOB", b"VALUES"}:
        raise Refused(BAD_FORMAT)
    if {b"BLOB", b"VALUES"} <= wanted:
        raise Refused(BOTH_FORMATS)
    dtype, shape, blob = stored
    parts = {b"BLOB": blob, b"VALUES": ("values", dtype, blob)}
    data = [(kind.lower(), parts[kind]) for kind in (b"BLOB", b"VALUES") if kind in wanted]
    if b"META" not in wanted:
        return data[0][1]
    reply = [b"dtype", dtype.encode(), b"shape", shape]
    for label, part in data:
        reply += [label, part]
    return reply


def values_of(dtype, blob):
    if dtype == "STRING":
        return blob.split(b"\0")[:-1]
    return np.frombuffer(blob, NUMPY_DTYPES[dtype]).tolist()


def assert_same(actual, expected):
    """Compares a reply with the model, decoding ("values", dtype, blob)
    placeholders; floats are compared bit for bit (NaN payloads excepted)."""
    if isinstance(expected, tuple) and expected[:1] == ("values",):
        _, dtype, blob = expected
        if dtype not in FLOAT_TYPES:
            assert actual == values_of(dtype, blob)     # ints (BOOL as 0/1) or bytes
            return
        stored = np.frombuffer(blob, NUMPY_DTYPES[dtype])
        got = np.array([float(v) for v in actual], NUMPY_DTYPES[dtype])
        same = (got.view(f"u{got.itemsize}") == stored.view(f"u{got.itemsize}")) | \
            (np.isnan(got) & np.isnan(stored))
        assert len(actual) == len(stored) and same.all(), (actual, stored)
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), (actual, expected)
        for a, e in zip(actual, expected):
            assert_same(a, e)
    else:
        assert actual == expected


# -------------------------------------------------------------- strategies

def mixed_case(word):
    """The word with any letters lowered (one draw: a bit per letter)."""
    return st.integers(0, 2**len(word) - 1).map(
        lambda bits: "".join(c.lower() if bits >> i & 1 else c for i, c in enumerate(word)).encode())


def as_token(value):
    return value if isinstance(value, bytes) else str(value).encode()


def weighted(*pairs):
    """Picks one of the strategies with the given integer weights."""
    total = sum(weight for weight, _ in pairs)

    def pick(n):
        for weight, strategy in pairs:
            if n < weight:
                return strategy
            n -= weight
    return st.integers(0, total - 1).flatmap(pick)


type_tokens = weighted(
    (18, st.sampled_from(ALL_TYPES).flatmap(mixed_case)),
    (1, st.sampled_from([b"UINT32", b"uint64", b"FLOAT16", b"BFLOAT16", b"COMPLEX64",
                         b"FLOAT32", b"INT", b"", b"FLOAT ", b"BLOB", b"VALUES"])),
    (1, st.binary(max_size=8)),
)

dim_tokens = weighted(
    (27, st.integers(1, 4).map(as_token)),
    (1, st.sampled_from([0, -1, -2**63, 1000, 65536, 2**31, 2**32, 3037000500, 2**62,
                         INT64_MAX, 2**63, 2**64, 10**30]).map(as_token)),
    (1, st.sampled_from([b"2.0", b"+1", b"01", b"-0", b" 1", b"1 ", b"abc", b"", b"META",
                         b"1e3", b"0x10"])),
    (1, st.binary(max_size=4)),
)

any_value = st.one_of(
    st.integers(0, 2).map(as_token),
    st.integers(-2**70, 2**70).map(as_token),
    st.sampled_from([127, 128, 255, 256, 32767, 32768, 65535, 65536, 2**31 - 1, 2**31,
                     INT64_MAX, 2**63, -1, -128]).map(as_token),
    st.floats(allow_nan=False).map(lambda f: repr(f).encode()),
    st.floats(width=32).map(lambda f: repr(f).encode()),
    st.sampled_from([b"nan", b"-nan", b"inf", b"-Infinity", b"1e999", b"1e-400", b"1e-310",
                     b"0x10", b"+1", b"007", b"-0", b"1.0x", b" 1", b"1 ", b"", b".5", b"5.",
                     b"a\0b", b"\0\0", b"1\0"]),
    st.text(max_size=6).map(str.encode),
    st.binary(max_size=6),
    st.binary(max_size=4).map(lambda b: b + b"\0"),
)

c_strings = st.binary(max_size=4).map(lambda b: b.replace(b"\0", b""))


def valid_value(dtype):
    """VALUES tokens that the type accepts."""
    if dtype in FLOAT_TYPES:
        return st.floats(allow_nan=False).map(lambda f: repr(f).encode())
    if dtype == "STRING":
        return st.tuples(c_strings, st.sampled_from([b"", b"\0"])).map(b"".join)
    return st.integers(0, INT_RANGES[dtype]).map(as_token)


def edge_value(dtype):
    """VALUES tokens at the edges of what the type accepts, valid or not."""
    if dtype in FLOAT_TYPES:
        return st.sampled_from([b"nan", b"-nan", b"NaN", b"inf", b"-inf", b"1e999", b"-1e999",
                                b"1e-400", b"1e-310", b"3.5e38", b"0x1p3", b" 1", b"1.0x", b""])
    if dtype == "STRING":
        return st.tuples(c_strings, st.sampled_from([b"", b"\0", b"\0\0"]), c_strings).map(b"".join)
    top = INT_RANGES[dtype]
    return st.integers(-top - 2, top + 2).map(as_token)


def valid_blob(dtype, count):
    """BLOBs that pass checks 7-9 for `count` elements."""
    if dtype == "STRING":
        return st.lists(c_strings.map(lambda b: b + b"\0"), min_size=count, max_size=count).map(b"".join)
    if dtype == "BOOL":
        return st.lists(st.sampled_from([b"\0", b"\1"]), min_size=count, max_size=count).map(b"".join)
    return st.binary(min_size=count * SIZES[dtype], max_size=count * SIZES[dtype])


def any_blob(count):
    return st.one_of(st.binary(min_size=count * 4, max_size=count * 4),
                     st.binary(min_size=count, max_size=count).map(lambda b: b[:-1] + b"\2" if b else b),
                     st.binary(max_size=12))


trailing_tokens = st.one_of(mixed_case("BLOB"), mixed_case("VALUES"), mixed_case("META"),
                            st.binary(max_size=6))


@st.composite
def tensorset_tokens(draw):
    """Arguments after the key. Half of the payloads are built to pass the
    type's checks so that later checks and successful stores are reached."""
    type_tok = draw(type_tokens)
    dtype = type_tok.upper().decode("latin-1")
    dims = draw(st.lists(dim_tokens, max_size=4))
    parsed = [strict_int(d) for d in dims]
    numel = math.prod(parsed) if None not in parsed and all(d > 0 for d in parsed) else None
    if numel is None or numel > 16:
        numel = draw(st.integers(0, 4))
    count = draw(weighted((4, st.just(numel)), (1, st.integers(0, 5))))
    clean = dtype in ALL_TYPES and draw(st.booleans())    # payload valid for the type
    tokens = [type_tok, *dims]
    tail = draw(weighted((3, st.just("values")), (2, st.just("blob")), (1, st.just("none"))))
    if tail == "blob":
        tokens += [draw(mixed_case("BLOB")), draw(valid_blob(dtype, count) if clean else any_blob(count))]
    elif tail == "values":
        if dtype not in ALL_TYPES:
            value = any_value
        else:
            value = valid_value(dtype) if clean else st.one_of(edge_value(dtype), any_value)
        tokens += [draw(mixed_case("VALUES")), *draw(st.lists(value, min_size=count, max_size=count))]
    return tokens + draw(weighted((9, st.just([])),
                                  (1, st.lists(trailing_tokens, min_size=1, max_size=2))))


format_tokens = st.lists(st.one_of(mixed_case("META"), mixed_case("BLOB"), mixed_case("VALUES"),
                                   st.sampled_from([b"FOO", b""])), max_size=3)

# What the key holds before TENSORSET, as model_tensorget takes it.
PREVIOUS = {"absent": None, "tensor": ("INT32", [2], np.array([5, 6], np.int32).tobytes()),
            "string": "string"}
_keys = itertools.count()


class ErrorReply(str):
    """An error reply's wire text (see test_tensor.wire_error)."""


def reply_or_error(client, *argv):
    try:
        return client.execute_command(*argv)
    except ResponseError as exc:    # anything else (connection lost) fails the test
        return ErrorReply(wire_error(exc))


def outcome(reply):
    return reply[:45] if isinstance(reply, ErrorReply) else "OK"


def assert_matches_model(reply, model, *args):
    try:
        expected = model(*args)
    except Refused as refused:
        if refused.or_stored is not None and not isinstance(reply, ErrorReply):
            return refused.or_stored
        assert isinstance(reply, ErrorReply), (reply, refused.allowed)
        assert any(reply == a or (a == "OOM" and reply.startswith("OOM ")) for a in refused.allowed), \
            (reply, refused.allowed)
        return None
    assert not isinstance(reply, ErrorReply), (reply, expected)
    return expected


@settings(max_examples=2000, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(set_name=st.sampled_from(["AI.TENSORSET", "ai.tensorset", "Ai.TensorSet"]),
       get_name=st.sampled_from(["AI.TENSORGET", "ai.tensorget"]),
       previous=weighted((3, st.just("absent")), (2, st.just("tensor")), (1, st.just("string"))),
       tokens=tensorset_tokens(), formats=format_tokens)
def test_tensorset_tensorget_match_model(client, set_name, get_name, previous, tokens, formats):
    key = f"k{next(_keys)}"
    if previous == "tensor":
        client.execute_command("AI.TENSORSET", key, "INT32", 2, "VALUES", 5, 6)
    elif previous == "string":
        client.set(key, "x")
    before = snapshot(client, key)

    reply = reply_or_error(client, set_name, key, *tokens)
    event(f"TENSORSET {outcome(reply)}")
    stored = assert_matches_model(reply, model_tensorset, set_name, previous, tokens)
    if stored is None:
        assert snapshot(client, key) == before, "a failed TENSORSET changed the key"
        stored = PREVIOUS[previous]
    else:
        assert reply == b"OK"
        dtype, shape, blob = stored
        assert client.execute_command("AI.TENSORGET", key, "META") == [
            b"dtype", dtype.encode(), b"shape", shape]
    if not (isinstance(stored, tuple) and stored[2] is None):  # large zero-filled: META is enough
        reply = reply_or_error(client, get_name, key, *formats)
        event(f"TENSORGET {outcome(reply)}")
        expected = assert_matches_model(reply, model_tensorget, get_name, stored, formats)
        if expected is not None:
            assert_same(reply, expected)
    assert client.ping()
    client.delete(key)
