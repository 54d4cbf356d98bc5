# cython: language_level=3
# AI.DAGEXECUTE[_RO] and the deprecated AI.DAGRUN[_RO]: parsed and validated
# whole on the main thread (spec/dag.md's checks, in order), then run by the
# engine (redisai.dag).
from libc.string cimport memcmp
from libc.stdint cimport uint32_t

from redisai.rm cimport *
from redisai.errors cimport *
from redisai.tensor cimport Tensor, tensor_retain
from redisai.model cimport Model, Op, OP_TENSORSET, OP_TENSORGET, OP_MODEL, op_init
from redisai.parse cimport (parse_tensorset, parse_tensorget_format, parse_modelexecute, parse_modelrun,
                            parse_scriptexecute, parse_scriptrun, ExecuteArgs, ScriptExecArgs, token_is)
from redisai.types cimport TensorType, ModelType, ScriptType
from redisai.dag cimport Dag, dag_new, dag_free, dag_set_persist, dag_submit
from redisai.model_commands cimport open_typed, in_transaction
from redisai.script_commands cimport script_op_init
from redisai.command_info cimport KEY_READ, KEY_WRITE, KEY_ROUTE

cdef enum:
    READ_ONLY = 1
    DEPRECATED = 2                  # the DAGRUN forms

ctypedef struct Parse:
    RedisModuleString **argv
    int argc
    int flags
    int persist_at                  # argv index of the first PERSIST key, 0: none
    int npersist
    long long timeout
    int nops
    int *op_start                   # argv index of each op's name
    int *op_end
    Dag *dag
    RedisModuleString **names       # slot names
    RedisModuleString *bad          # the offending token of an error


cdef bint same(RedisModuleString *a, RedisModuleString *b) noexcept nogil:
    cdef size_t la, lb
    cdef const char *sa = RedisModule_StringPtrLen(a, &la)
    cdef const char *sb = RedisModule_StringPtrLen(b, &lb)
    return la == lb and memcmp(sa, sb, la) == 0


cdef int new_slot(Parse *p, RedisModuleString *name) noexcept nogil:
    cdef int slot = p.dag.nslots
    p.names[slot] = name
    p.dag.nslots += 1
    return slot


cdef int find_slot(Parse *p, RedisModuleString *name) noexcept nogil:
    """The latest slot of that name (the SSA rule of dag.md), -1 if none."""
    cdef int i
    for i in range(p.dag.nslots - 1, -1, -1):
        if same(p.names[i], name):
            return i
    return -1


cdef bint is_separator(RedisModuleString *arg) noexcept nogil:
    return token_is(arg, b"|>")


cdef Err parse_count(RedisModuleString *arg, Err bad, long long *n) noexcept nogil:
    if RedisModule_StringToLongLong(arg, n) != REDISMODULE_OK or n[0] <= 0:
        return bad
    return E_OK


cdef Err parse_header(RedisModuleCtx *ctx, Parse *p, int *first_op) noexcept nogil:
    """LOAD / PERSIST / ROUTING / TIMEOUT, left to right, up to the first `|>`."""
    cdef RedisModuleString **argv = p.argv
    cdef int i = 1, j, k
    cdef long long n
    cdef bint load = False, persist = False, routing = False, timeout = False
    cdef Tensor *t = NULL
    cdef Err err
    while i < p.argc and not is_separator(argv[i]):
        if token_is(argv[i], b"LOAD") and not load:
            load = True
            if i + 2 >= p.argc:
                return E_LOAD_MISSING
            if parse_count(argv[i + 1], E_LOAD_COUNT, &n) != E_OK:
                return E_LOAD_COUNT
            i += 2
            for k in range(n):
                if i >= p.argc:
                    return E_LOAD_MISMATCH
                err = open_typed(ctx, argv[i], TensorType, E_TENSOR_EMPTY, <void **>&t)
                if err != E_OK:
                    return err
                p.dag.slots[new_slot(p, argv[i])] = tensor_retain(t)
                i += 1
        elif token_is(argv[i], b"PERSIST") and not persist:
            persist = True
            if p.flags & READ_ONLY:
                return E_PERSIST_RO
            if i + 2 >= p.argc:
                return E_PERSIST_MISSING
            if parse_count(argv[i + 1], E_PERSIST_COUNT, &n) != E_OK:
                return E_PERSIST_COUNT
            i += 2
            p.persist_at = i
            for k in range(n):
                if i >= p.argc:
                    return E_PERSIST_MISMATCH
                for j in range(p.persist_at, i):
                    if same(argv[j], argv[i]):
                        return E_PERSIST_UNIQUE
                i += 1
            p.npersist = <int>n
        elif token_is(argv[i], b"ROUTING") and not routing:
            routing = True
            if i + 1 >= p.argc:
                return E_ROUTING_MISSING
            i += 2
        elif token_is(argv[i], b"TIMEOUT") and not timeout:
            timeout = True
            if i + 1 >= p.argc:
                return E_TIMEOUT_MISSING
            if RedisModule_StringToLongLong(argv[i + 1], &p.timeout) != REDISMODULE_OK:
                return E_TIMEOUT_INVALID
            i += 2
        else:
            p.bad = argv[i]
            return E_DAG_UNEXPECTED
    if not (p.flags & DEPRECATED) and not (load or persist or routing):
        return E_DAG_KEYWORD_REQUIRED
    first_op[0] = i
    return E_OK


cdef Err split_ops(Parse *p, int i) noexcept nogil:
    """Op ranges: each `|>` followed by at least one argument starts one."""
    while i < p.argc:
        if i + 1 >= p.argc or is_separator(p.argv[i + 1]):
            p.bad = p.argv[i]           # a trailing or empty `|>`
            return E_DAG_UNEXPECTED
        p.op_start[p.nops] = i + 1
        i += 1
        while i < p.argc and not is_separator(p.argv[i]):
            i += 1
        p.op_end[p.nops] = i
        p.nops += 1
    return E_OK if p.nops > 0 else E_DAG_EMPTY


cdef void name_slots(int *slots, int n, int first) noexcept nogil:
    """Until names are resolved, an op's slots hold argv indices."""
    cdef int i
    for i in range(n):
        slots[i] = first + i


cdef Err parse_op(RedisModuleCtx *ctx, Parse *p, Op *op, int start, int end) noexcept nogil:
    cdef RedisModuleString **argv = p.argv + start
    cdef int argc = end - start, i
    cdef bint deprecated = (p.flags & DEPRECATED) != 0
    cdef Tensor *t = NULL
    cdef Model *m = NULL
    cdef ExecuteArgs ea
    cdef ScriptExecArgs sa
    cdef Err err
    if token_is(argv[0], b"AI.TENSORSET"):
        if argc < 4:
            return E_TENSORSET_ARITY_DAG
        err = parse_tensorset(argv, argc, &t)
        if err != E_OK:
            return err
        op_init(op, OP_TENSORSET, NULL, 0, 1)
        op.outputs[0] = t                   # made now; slotted by resolve()
        op.out_slots[0] = start + 1
        return E_OK
    if token_is(argv[0], b"AI.TENSORGET"):
        if argc < 2 or argc > 4:
            return E_TENSORGET_ARITY_DAG
        op_init(op, OP_TENSORGET, NULL, 1, 0)
        op.in_slots[0] = start + 1
        return parse_tensorget_format(argv, argc, &op.format)
    if token_is(argv[0], b"AI.MODELEXECUTE") or token_is(argv[0], b"AI.MODELRUN"):
        if token_is(argv[0], b"AI.MODELRUN") != deprecated:
            return E_DAG_MODELRUN_IN_EXECUTE if not deprecated else E_DAG_MODELEXECUTE_IN_RUN
        if argc < (6 if deprecated else 8):
            return E_MODELRUN_ARITY if deprecated else E_MODELEXECUTE_ARITY
        err = open_typed(ctx, argv[1], ModelType, E_MODEL_EMPTY, <void **>&m)
        if err == E_OK:
            err = parse_modelrun(argv, argc, m, &ea) if deprecated else \
                parse_modelexecute(argv, argc, m, &ea, &p.bad)
        if err == E_OK and ea.timeout != 0:
            err = E_TIMEOUT_IN_DAG
        if err != E_OK:
            return err
        op_init(op, OP_MODEL, m, ea.ninputs, ea.noutputs)
        name_slots(op.in_slots, ea.ninputs, start + ea.inputs)
        name_slots(op.out_slots, ea.noutputs, start + ea.outputs)
        return E_OK
    if token_is(argv[0], b"AI.SCRIPTEXECUTE") or token_is(argv[0], b"AI.SCRIPTRUN"):
        if token_is(argv[0], b"AI.SCRIPTRUN") != deprecated:
            return E_DAG_SCRIPTRUN_IN_EXECUTE if not deprecated else E_DAG_SCRIPTEXECUTE_IN_RUN
        if p.flags & READ_ONLY and not deprecated:
            return E_DAG_SCRIPT_RO
        if argc < 3:
            return E_SCRIPTRUN_ARITY if deprecated else E_SCRIPTEXECUTE_ARITY
        err = open_typed(ctx, argv[1], ScriptType, E_SCRIPT_EMPTY, <void **>&m)
        if err == E_OK:
            err = parse_scriptrun(argv, argc, True, &sa) if deprecated else \
                parse_scriptexecute(argv, argc, True, &sa, &p.bad)
        if err != E_OK:
            return err
        script_op_init(op, m, argv, argv[2], &sa)
        for i in range(<int>op.ninputs):
            op.in_slots[i] = start + sa.inputs + i + (sa.dollar != 0 and sa.inputs + i >= sa.dollar)
        name_slots(op.out_slots, sa.noutputs, start + sa.outputs)
        if p.dag.call.user == NULL:
            p.dag.call.user = RedisModule_GetCurrentUserName(ctx)
        return E_OK
    return E_DAG_UNSUPPORTED_OP


cdef Err resolve(Parse *p) noexcept nogil:
    """Binds op inputs to the latest producer before them and gives each
    output a new slot (SSA), then the PERSIST names to their final slots."""
    cdef int i, slot
    cdef uint32_t k
    cdef Op *op
    for i in range(p.nops):
        op = &p.dag.ops[i]
        for k in range(op.ninputs):
            slot = find_slot(p, p.argv[op.in_slots[k]])
            if slot < 0:
                return E_DAG_INPUT_NOT_FOUND
            op.in_slots[k] = slot
        for k in range(op.noutputs):
            op.out_slots[k] = new_slot(p, p.argv[op.out_slots[k]])
        if op.kind == OP_TENSORSET:
            p.dag.slots[op.out_slots[0]] = op.outputs[0]
            op.outputs[0] = NULL
    cdef int *slots = <int *>RedisModule_Alloc((p.npersist + 1) * sizeof(int))
    for i in range(p.npersist):
        slots[i] = find_slot(p, p.argv[p.persist_at + i])
        if slots[i] < 0:
            RedisModule_Free(slots)
            return E_DAG_PERSIST_NOT_FOUND
    dag_set_persist(p.dag, p.npersist, p.argv + p.persist_at, slots)
    RedisModule_Free(slots)
    return E_OK


cdef Err parse_dag(RedisModuleCtx *ctx, Parse *p) noexcept nogil:
    cdef int first_op = 0, i
    cdef Err err = parse_header(ctx, p, &first_op)
    if err == E_OK:
        err = split_ops(p, first_op)
    if err != E_OK:
        return err
    p.dag.nops = p.nops
    for i in range(p.nops):
        err = parse_op(ctx, p, &p.dag.ops[i], p.op_start[i], p.op_end[i])
        if err != E_OK:
            return err
    return resolve(p)


cdef Err parse_dag_ops(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, Dag *dag,
                       RedisModuleString **bad) noexcept nogil:
    if argc == 0 or not is_separator(argv[0]):
        return E_LL_DAG_START
    cdef Parse p
    p.argv = argv
    p.argc = argc
    p.flags = 0
    p.nops = 0
    p.bad = NULL
    p.dag = dag
    p.op_start = <int *>RedisModule_Alloc(argc * sizeof(int))
    p.op_end = <int *>RedisModule_Alloc(argc * sizeof(int))
    cdef Err err = split_ops(&p, 0)
    cdef int i
    dag.nops = p.nops                   # every op parsed so far is released by dag_free
    for i in range(p.nops):
        if err == E_OK:
            err = parse_op(ctx, &p, &dag.ops[i], p.op_start[i], p.op_end[i])
    RedisModule_Free(p.op_start)
    RedisModule_Free(p.op_end)
    bad[0] = p.bad
    return err


cdef Err ARITY[4]
ARITY[0] = E_DAGEXECUTE_ARITY
ARITY[READ_ONLY] = E_DAGEXECUTE_RO_ARITY
ARITY[DEPRECATED] = E_DAGRUN_ARITY
ARITY[DEPRECATED | READ_ONLY] = E_DAGRUN_RO_ARITY


cdef void report_dag_keys(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil:
    """getkeys-api: LOAD and PERSIST keys, the ROUTING value, and the model or
    script key of each op (local tensor names are not keys)."""
    cdef long long i = 1, k, n
    cdef int flags
    while i < argc:
        flags = KEY_READ if token_is(argv[i], b"LOAD") else \
            KEY_WRITE if token_is(argv[i], b"PERSIST") else 0
        if flags and i + 1 < argc and \
                RedisModule_StringToLongLong(argv[i + 1], &n) == REDISMODULE_OK and n > 0:
            n = min(n, argc)    # no overflow below
            for k in range(i + 2, i + 2 + n):
                rm_key_at(ctx, k, argc, flags)
            i += 2 + n
            continue
        if token_is(argv[i], b"ROUTING"):
            rm_key_at(ctx, i + 1, argc, KEY_ROUTE)
            i += 2
            continue
        if token_is(argv[i], b"AI.MODELEXECUTE") or token_is(argv[i], b"AI.SCRIPTEXECUTE") or \
                token_is(argv[i], b"AI.MODELRUN") or token_is(argv[i], b"AI.SCRIPTRUN"):
            rm_key_at(ctx, i + 1, argc, KEY_READ)
            i += 2
            continue
        i += 1


cdef int dag_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, int flags) noexcept nogil:
    if RedisModule_IsKeysPositionRequest(ctx):
        report_dag_keys(ctx, argv, argc)
        return REDISMODULE_OK
    if in_transaction(ctx):
        return reply_error(ctx, E_IN_TX)
    if argc < (4 if flags & DEPRECATED else 6):
        return reply_error(ctx, ARITY[flags])
    cdef Parse p
    p.argv = argv
    p.argc = argc
    p.flags = flags
    p.persist_at = p.npersist = p.nops = 0
    p.timeout = 0
    p.bad = NULL
    p.op_start = <int *>RedisModule_Alloc(argc * sizeof(int))
    p.op_end = <int *>RedisModule_Alloc(argc * sizeof(int))
    p.names = <RedisModuleString **>RedisModule_Alloc(argc * sizeof(RedisModuleString *))
    p.dag = dag_new(argc, argc)             # capacities: at most one slot or op per argument
    p.dag.nslots = p.dag.nops = 0
    cdef Err err = parse_dag(ctx, &p)
    RedisModule_Free(p.op_start)
    RedisModule_Free(p.op_end)
    RedisModule_Free(p.names)
    if err != E_OK:
        p.dag.nops = p.nops                 # every op parsed so far is released
        dag_free(p.dag)
        return reply_error_token(ctx, err, p.bad) if p.bad != NULL else reply_error(ctx, err)
    if p.timeout > 0:
        p.dag.deadline = RedisModule_Milliseconds() + p.timeout
    return dag_submit(ctx, p.dag)


cdef int cmd_dagexecute(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil:
    return dag_command(ctx, argv, argc, 0)


cdef int cmd_dagexecute_ro(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil:
    return dag_command(ctx, argv, argc, READ_ONLY)


cdef int cmd_dagrun(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil:
    return dag_command(ctx, argv, argc, DEPRECATED)


cdef int cmd_dagrun_ro(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil:
    return dag_command(ctx, argv, argc, DEPRECATED | READ_ONLY)
