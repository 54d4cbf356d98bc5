# Argument parsing shared by the single commands and the DAG ops. Parsers
# return an Err code; the caller renders it (redisai.errors).
from redisai.rm cimport RedisModuleString
from redisai.errors cimport Err
from redisai.tensor cimport Tensor

# TENSORGET output formats (bit set).
cdef enum:
    FMT_META = 1
    FMT_BLOB = 2
    FMT_VALUES = 4

cdef bint token_is(RedisModuleString *arg, const char *word) noexcept nogil

# argv[0] is the command, argv[1] the key or DAG name, argv[2] the type;
# argc >= 4 is checked by the caller. On E_OK *out owns a new tensor.
cdef Err parse_tensorset(RedisModuleString **argv, int argc, Tensor **out) noexcept nogil

# Format tokens argv[2:argc] into a FMT_* set (none given: META|BLOB).
cdef Err parse_tensorget_format(RedisModuleString **argv, int argc, int *fmt) noexcept nogil

from redisai.model cimport Model

# AI.MODELSTORE: on E_OK *out is a new model without blob or session, and
# argv[*blob_at] is the BLOB keyword (the chunks follow it).
cdef Err parse_modelstore(RedisModuleString **argv, int argc, Model **out, int *blob_at) noexcept nogil

# AI.MODELEXECUTE argument layout, validated against the model's counts.
ctypedef struct ExecuteArgs:
    int inputs          # argv index of the first input key
    int ninputs
    int outputs         # argv index of the first output key
    int noutputs
    long long timeout   # ms, 0: none

# On E_INVALID_ARGUMENT *bad is the offending token.
cdef Err parse_modelexecute(RedisModuleString **argv, int argc, const Model *m, ExecuteArgs *out,
                            RedisModuleString **bad) noexcept nogil

# Deprecated forms: AI.MODELSET (names without counts) and AI.MODELRUN.
cdef Err parse_modelset(RedisModuleString **argv, int argc, Model **out, int *blob_at) noexcept nogil
cdef Err parse_modelrun(RedisModuleString **argv, int argc, const Model *m,
                        ExecuteArgs *out) noexcept nogil
