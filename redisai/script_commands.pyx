# cython: language_level=3
# Handlers of the TorchScript script commands (registered in redisai.commands).
from libc.string cimport strlen
from libc.stdint cimport uint32_t
from posix.strings cimport strncasecmp

from redisai.rm cimport *
from redisai.errors cimport *
from redisai.model cimport (Model, Op, OP_SCRIPT, KIND_SCRIPT, model_new, model_set_entry_points,
                            op_init, rm_strndup)
from redisai.parse cimport (parse_scriptstore, parse_scriptset, parse_scriptexecute, parse_scriptrun,
                            ScriptStoreArgs, ScriptExecArgs, token_is)
from redisai.types cimport ScriptType
from redisai.bridge cimport BE_TORCH
from redisai.dag cimport Dag, dag_new
from redisai.model_commands cimport (open_typed, open_to_run, load_inputs, check_outputs, store,
                                     submit_single, get_flags, delete_typed)


cdef bint torch_device(RedisModuleString *device) noexcept nogil:
    """The devices the TORCH backend accepts: CPU..., GPU, GPU:<id>."""
    cdef size_t len
    cdef const char *s = RedisModule_StringPtrLen(device, &len)
    return len >= 3 and (strncasecmp(s, b"CPU", 3) == 0 or strncasecmp(s, b"GPU", 3) == 0)


cdef int store_script(RedisModuleCtx *ctx, RedisModuleString **argv, int argc,
                      ScriptStoreArgs *a, Err err) noexcept nogil:
    if err == E_ARITY:
        return reply_arity(ctx, argv[0])
    if err == E_OK and not torch_device(argv[a.device]):
        err = E_UNSUPPORTED_DEVICE
    if err != E_OK:
        return reply_error(ctx, err)
    cdef size_t taglen = 0
    cdef const char *tag = b""
    if a.tag:
        tag = RedisModule_StringPtrLen(argv[a.tag], &taglen)
    cdef Model *s = model_new(BE_TORCH, RedisModule_StringPtrLen(argv[a.device], NULL), tag, taglen)
    s.kind = KIND_SCRIPT
    cdef const char **names = <const char **>RedisModule_Alloc((a.nentry + 1) * sizeof(char *))
    cdef int i
    for i in range(a.nentry):
        names[i] = RedisModule_StringPtrLen(argv[a.entry_points + i], NULL)
    model_set_entry_points(s, a.nentry, names)
    RedisModule_Free(names)
    return store(ctx, argv, argc, s, a.source - 1, 1, E_OK)


cdef int cmd_scriptstore(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil:
    cdef ScriptStoreArgs a
    return store_script(ctx, argv, argc, &a, parse_scriptstore(argv, argc, &a))


cdef int cmd_scriptset(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil:
    cdef ScriptStoreArgs a
    return store_script(ctx, argv, argc, &a, parse_scriptset(argv, argc, &a))


cdef int cmd_scriptget(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil:
    if argc < 2 or argc > 4:
        return reply_arity(ctx, argv[0])
    cdef Model *s = NULL
    cdef Err err = open_typed(ctx, argv[1], ScriptType, E_SCRIPT_EMPTY, <void **>&s)
    if err != E_OK:
        return reply_error(ctx, err)
    cdef bint meta, source
    cdef uint32_t e
    get_flags(argv, argc, b"SOURCE", &meta, &source)
    if not meta:
        return RedisModule_ReplyWithStringBuffer(ctx, s.blob, s.bloblen)
    RedisModule_ReplyWithArray(ctx, 8 if source else 6)
    RedisModule_ReplyWithStringBuffer(ctx, b"device", 6)
    RedisModule_ReplyWithStringBuffer(ctx, s.device, strlen(s.device))
    RedisModule_ReplyWithStringBuffer(ctx, b"tag", 3)
    RedisModule_ReplyWithStringBuffer(ctx, s.tag, s.taglen)
    RedisModule_ReplyWithStringBuffer(ctx, b"Entry Points", 12)
    RedisModule_ReplyWithArray(ctx, s.nentry)
    for e in range(s.nentry):
        RedisModule_ReplyWithStringBuffer(ctx, s.entry_points[e], strlen(s.entry_points[e]))
    if source:
        RedisModule_ReplyWithStringBuffer(ctx, b"source", 6)
        RedisModule_ReplyWithStringBuffer(ctx, s.blob, s.bloblen)
    return REDISMODULE_OK


cdef int cmd_scriptdel(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil:
    return delete_typed(ctx, argv, argc, ScriptType, E_SCRIPT_EMPTY)


cdef RedisModuleString **retained(RedisModuleString **argv, int n) noexcept nogil:
    cdef RedisModuleString **out = <RedisModuleString **>RedisModule_Alloc(
        (n + 1) * sizeof(RedisModuleString *))
    cdef int i
    for i in range(n):
        out[i] = argv[i]
        RedisModule_RetainString(NULL, argv[i])
    return out


cdef void script_op_init(Op *op, Model *s, RedisModuleString **argv, RedisModuleString *function,
                         ScriptExecArgs *a) noexcept nogil:
    """A script op from its parsed arguments (in a command or a DAG op);
    the slots are the caller's."""
    cdef size_t len
    cdef const char *name = RedisModule_StringPtrLen(function, &len)
    op_init(op, OP_SCRIPT, s, a.ninputs - (a.dollar != 0), a.noutputs)
    op.function = rm_strndup(name, len)
    op.nkeys = a.nkeys
    op.keys = retained(argv + a.keys, a.nkeys)
    op.nargs = a.nargs
    op.args = retained(argv + a.args, a.nargs)


cdef int execute_script(RedisModuleCtx *ctx, RedisModuleString **argv, Model *s,
                        ScriptExecArgs *a) noexcept nogil:
    cdef int ninputs = a.ninputs - (a.dollar != 0)
    cdef Dag *dag = dag_new(ninputs + a.noutputs, 1)
    cdef Op *op = &dag.ops[0]
    script_op_init(op, s, argv, argv[2], a)
    dag.call.user = RedisModule_GetCurrentUserName(ctx)
    cdef Err err = load_inputs(ctx, dag, op, argv + a.inputs, argv + a.dollar if a.dollar else NULL)
    if err == E_OK:
        err = check_outputs(ctx, dag, op, argv + a.outputs)
    return submit_single(ctx, dag, err, a.timeout)


cdef void report_keys_after(RedisModuleCtx *ctx, int at, int n, int argc) noexcept nogil:
    cdef int i
    for i in range(at, min(at + n, argc)):
        RedisModule_KeyAtPos(ctx, i)


cdef void report_scriptexecute_keys(RedisModuleCtx *ctx, RedisModuleString **argv,
                                    int argc) noexcept nogil:
    """getkeys-api: the script and every KEYS, INPUTS and OUTPUTS name."""
    RedisModule_KeyAtPos(ctx, 1)
    cdef int i = 3
    cdef long long n
    cdef bint keys
    while i + 1 < argc:
        keys = token_is(argv[i], b"KEYS") or token_is(argv[i], b"INPUTS") or \
            token_is(argv[i], b"OUTPUTS")
        if not (keys or token_is(argv[i], b"ARGS")) or \
                RedisModule_StringToLongLong(argv[i + 1], &n) != REDISMODULE_OK or n < 0:
            return
        n = min(n, argc)            # so that the int index cannot wrap
        if keys:
            report_keys_after(ctx, i + 2, <int>n, argc)
        i += 2 + <int>n


cdef void report_scriptrun_keys(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil:
    """getkeys-api: the script, then past one keyword every argument but
    OUTPUTS and `$` (skipping a TIMEOUT clause at position 3)."""
    RedisModule_KeyAtPos(ctx, 1)
    cdef int i = 5 if argc > 3 and token_is(argv[3], b"TIMEOUT") else 3
    for i in range(i + 1, argc):
        if not token_is(argv[i], b"OUTPUTS") and not token_is(argv[i], b"$"):
            RedisModule_KeyAtPos(ctx, i)


cdef int script_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc,
                        bint deprecated) noexcept nogil:
    """AI.SCRIPTEXECUTE, or the deprecated AI.SCRIPTRUN."""
    if RedisModule_IsKeysPositionRequest(ctx):
        if deprecated:
            report_scriptrun_keys(ctx, argv, argc)
        else:
            report_scriptexecute_keys(ctx, argv, argc)
        return REDISMODULE_OK
    cdef Model *s = NULL
    cdef Err err = open_to_run(ctx, argv, argc, 3,
                               E_SCRIPTRUN_ARITY if deprecated else E_SCRIPTEXECUTE_ARITY,
                               ScriptType, E_SCRIPT_EMPTY, &s)
    cdef ScriptExecArgs a
    cdef RedisModuleString *bad = NULL
    if err == E_OK:
        err = parse_scriptrun(argv, argc, False, &a) if deprecated else \
            parse_scriptexecute(argv, argc, False, &a, &bad)
    if err != E_OK:
        return reply_error_token(ctx, err, bad) if bad != NULL else reply_error(ctx, err)
    return execute_script(ctx, argv, s, &a)


cdef int cmd_scriptexecute(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil:
    return script_command(ctx, argv, argc, False)


cdef int cmd_scriptrun(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil:
    return script_command(ctx, argv, argc, True)
