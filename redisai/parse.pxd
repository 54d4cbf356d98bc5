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

# Checks a BLOB holds exactly `numel` elements of dtype `dt` (STRING: that
# many NUL-terminated ones; BOOL: bytes 0 or 1).
from libc.stdint cimport int64_t
cdef Err check_blob(int dt, const char *data, size_t len, int64_t numel) noexcept nogil

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

# ---- scripts: argument layout only (no key access); argv[0] is the command
# or DAG op name, argv[1] the script key. A list's index is meaningful only
# when its count is > 0.
ctypedef struct ScriptStoreArgs:
    int device          # argv index of the device string
    int tag             # argv index of the tag value, 0: no TAG
    int entry_points    # argv index of the first entry-point name
    int nentry          # number of entry points (SCRIPTSET: 0)
    int source          # argv index of the source text

# AI.SCRIPTSTORE <key> <device> [TAG <tag>] ENTRY_POINTS <n> <fn>... SOURCE <source>
# (arity included: E_ARITY is replied with reply_arity).
cdef Err parse_scriptstore(RedisModuleString **argv, int argc, ScriptStoreArgs *out) noexcept nogil
# AI.SCRIPTSET <key> <device> [TAG <tag>] SOURCE <source> (argc 5 or 7, else E_ARITY).
cdef Err parse_scriptset(RedisModuleString **argv, int argc, ScriptStoreArgs *out) noexcept nogil

ctypedef struct ScriptExecArgs:
    int keys, nkeys         # first KEYS name and their count (nkeys 0: no KEYS scope)
    int inputs, ninputs     # first INPUTS argument and the scope's length (SCRIPTRUN: with `$`)
    int dollar              # SCRIPTRUN: argv index of the `$` marker (skip it), 0: none
    int args, nargs
    int outputs, noutputs
    long long timeout       # ms, 0: none

# AI.SCRIPTEXECUTE <key> <function> [KEYS n ..] [INPUTS n ..] [ARGS n ..] [OUTPUTS n ..] [TIMEOUT ms]
# The caller has checked argc >= 3. In a DAG (`in_dag`) the first scope may be
# any, and a TIMEOUT is E_TIMEOUT_IN_DAG. On E_SCRIPT_UNEXPECTED *bad is the token.
cdef Err parse_scriptexecute(RedisModuleString **argv, int argc, bint in_dag, ScriptExecArgs *out,
                             RedisModuleString **bad) noexcept nogil
# AI.SCRIPTRUN <key> <function> [TIMEOUT ms] INPUTS <in>... [$ <in>...] OUTPUTS <out>...
# (keywords in any order). The caller has checked argc >= 3. Names of one list
# that a TIMEOUT clause splits are E_SCRIPTRUN_SPLIT (ours: one range per list).
cdef Err parse_scriptrun(RedisModuleString **argv, int argc, bint in_dag,
                         ScriptExecArgs *out) noexcept nogil
