# cython: language_level=3
# Command handlers (thin: parse, touch the key, reply) and their registration.
from redisai.rm cimport *
from redisai.errors cimport *
from redisai.tensor cimport Tensor, tensor_release
from redisai.parse cimport parse_tensorset, parse_tensorget_format
from redisai.reply cimport reply_tensor
from redisai.types cimport TensorType, register_types, set_tensor
from redisai.queue cimport queue_ensure
from redisai.config cimport config, apply_load_args, cmd_config, info_func
from redisai.bridge cimport reply_tensor_view
from redisai.model_commands cimport (cmd_modelstore, cmd_modelget, cmd_modeldel, cmd_modelexecute,
                                     cmd_modelscan, cmd_scriptscan, cmd_info, cmd_modelset, cmd_modelrun)
from redisai.script_commands cimport (cmd_scriptstore, cmd_scriptset, cmd_scriptget, cmd_scriptdel,
                                      cmd_scriptexecute, cmd_scriptrun)
from redisai.dag_commands cimport cmd_dagexecute, cmd_dagexecute_ro, cmd_dagrun, cmd_dagrun_ro
from redisai.command_info cimport set_command_info
from redisai.llapi cimport llapi_export
from redisai import host     # registers the object scripts call back into


cdef RedisModuleKey *open_tensor_key(RedisModuleCtx *ctx, RedisModuleString *name, int mode,
                                     Err *err) noexcept nogil:
    """Opens a key that is empty or holds a tensor; else sets *err."""
    cdef RedisModuleKey *key = RedisModule_OpenKey(ctx, name, mode)
    cdef int kt = RedisModule_KeyType(key)
    err[0] = E_OK
    if kt == REDISMODULE_KEYTYPE_EMPTY:
        err[0] = E_TENSOR_EMPTY
    elif kt != REDISMODULE_KEYTYPE_MODULE or RedisModule_ModuleTypeGetType(key) != TensorType:
        err[0] = E_WRONGTYPE
    return key


cdef int cmd_tensorset(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil:
    if argc < 4:
        return reply_arity(ctx, argv[0])
    cdef Err err
    cdef RedisModuleKey *key = open_tensor_key(ctx, argv[1], REDISMODULE_READ | REDISMODULE_WRITE, &err)
    cdef Tensor *t = NULL
    if err == E_WRONGTYPE:
        RedisModule_CloseKey(key)
        return reply_error(ctx, err)
    err = parse_tensorset(argv, argc, &t)
    if err != E_OK:
        RedisModule_CloseKey(key)
        return reply_error(ctx, err)
    set_tensor(key, t)
    RedisModule_CloseKey(key)
    RedisModule_ReplicateVerbatim(ctx)
    return RedisModule_ReplyWithSimpleString(ctx, b"OK")


cdef int cmd_tensorget(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil:
    if argc < 2 or argc > 4:
        return reply_arity(ctx, argv[0])
    cdef Err err
    cdef int fmt
    cdef RedisModuleKey *key = open_tensor_key(ctx, argv[1], REDISMODULE_READ, &err)
    if err == E_OK:
        err = parse_tensorget_format(argv, argc, &fmt)
    if err == E_OK:
        reply_tensor(ctx, <Tensor *>RedisModule_ModuleTypeGetValue(key), fmt)
    RedisModule_CloseKey(key)
    return reply_error(ctx, err) if err != E_OK else REDISMODULE_OK


cdef int cmd_tensorview(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) noexcept nogil:
    if argc != 2:
        return reply_arity(ctx, argv[0])
    cdef Err err
    cdef RedisModuleKey *key = open_tensor_key(ctx, argv[1], REDISMODULE_READ, &err)
    if err == E_OK:
        reply_tensor_view(ctx, <Tensor *>RedisModule_ModuleTypeGetValue(key))
    RedisModule_CloseKey(key)
    return reply_error(ctx, err) if err != E_OK else REDISMODULE_OK


ctypedef struct CommandSpec:
    const char *name
    RedisModuleCmdFunc handler
    const char *flags
    int first_key, last_key, key_step

cdef enum:
    NUM_COMMANDS = 23

cdef CommandSpec COMMANDS[NUM_COMMANDS]
COMMANDS[0] = CommandSpec(b"AI.TENSORSET", cmd_tensorset, b"write deny-oom", 1, 1, 1)
COMMANDS[1] = CommandSpec(b"AI.TENSORGET", cmd_tensorget, b"readonly", 1, 1, 1)
# Node-local and keyless; unlike the reference not flagged `write`, so
# AI.CONFIG GET also works on read-only replicas.
COMMANDS[2] = CommandSpec(b"AI.CONFIG", cmd_config, b"", 0, 0, 0)
# Diagnostics (not in the reference): the tensor as a backend sees it.
COMMANDS[3] = CommandSpec(b"AI._TENSORVIEW", cmd_tensorview, b"readonly", 1, 1, 1)
COMMANDS[4] = CommandSpec(b"AI.MODELSTORE", cmd_modelstore, b"write deny-oom", 1, 1, 1)
COMMANDS[5] = CommandSpec(b"AI.MODELGET", cmd_modelget, b"readonly", 1, 1, 1)
COMMANDS[6] = CommandSpec(b"AI.MODELDEL", cmd_modeldel, b"write", 1, 1, 1)
COMMANDS[7] = CommandSpec(b"AI.MODELEXECUTE", cmd_modelexecute, b"write deny-oom getkeys-api",
                          4, 4, 1)
COMMANDS[8] = CommandSpec(b"AI._MODELSCAN", cmd_modelscan, b"readonly", 0, 0, 0)
COMMANDS[9] = CommandSpec(b"AI.INFO", cmd_info, b"readonly", 1, 1, 1)
COMMANDS[10] = CommandSpec(b"AI.MODELSET", cmd_modelset, b"write deny-oom", 1, 1, 1)
COMMANDS[11] = CommandSpec(b"AI.MODELRUN", cmd_modelrun, b"write deny-oom getkeys-api", 3, 3, 1)
COMMANDS[12] = CommandSpec(b"AI.SCRIPTSTORE", cmd_scriptstore, b"write deny-oom", 1, 1, 1)
COMMANDS[13] = CommandSpec(b"AI.SCRIPTSET", cmd_scriptset, b"write deny-oom", 1, 1, 1)
COMMANDS[14] = CommandSpec(b"AI.SCRIPTGET", cmd_scriptget, b"readonly", 1, 1, 1)
COMMANDS[15] = CommandSpec(b"AI.SCRIPTDEL", cmd_scriptdel, b"write", 1, 1, 1)
COMMANDS[16] = CommandSpec(b"AI.SCRIPTEXECUTE", cmd_scriptexecute, b"write deny-oom getkeys-api",
                           5, 5, 1)
COMMANDS[17] = CommandSpec(b"AI.SCRIPTRUN", cmd_scriptrun, b"write deny-oom getkeys-api", 4, 4, 1)
COMMANDS[18] = CommandSpec(b"AI._SCRIPTSCAN", cmd_scriptscan, b"readonly", 0, 0, 0)
COMMANDS[19] = CommandSpec(b"AI.DAGEXECUTE", cmd_dagexecute, b"write deny-oom getkeys-api", 3, 3, 1)
# Read-only DAGs run on read-only replicas and are not refused under maxmemory.
COMMANDS[20] = CommandSpec(b"AI.DAGEXECUTE_RO", cmd_dagexecute_ro, b"readonly getkeys-api", 3, 3, 1)
COMMANDS[21] = CommandSpec(b"AI.DAGRUN", cmd_dagrun, b"write deny-oom getkeys-api", 3, 3, 1)
COMMANDS[22] = CommandSpec(b"AI.DAGRUN_RO", cmd_dagrun_ro, b"readonly getkeys-api", 3, 3, 1)


cdef public int redisai_module_load(RedisModuleCtx *ctx, RedisModuleString **argv, int argc,
                                    const char *module_dir) noexcept:
    """Called by RedisModule_OnLoad (csrc/module.c) with the GIL held."""
    RedisModule_SetModuleOptions(ctx, REDISMODULE_OPTIONS_HANDLE_IO_ERRORS)
    if register_types(ctx) != REDISMODULE_OK:
        return REDISMODULE_ERR
    if apply_load_args(ctx, argv, argc, module_dir) != REDISMODULE_OK:
        return REDISMODULE_ERR
    if queue_ensure(b"CPU", 3, config.threads_per_queue) == NULL:
        RedisModule_Log(ctx, b"warning", b"redisai: cannot start the CPU run queue")
        return REDISMODULE_ERR
    cdef int i
    for i in range(NUM_COMMANDS):
        if RedisModule_CreateCommand(ctx, COMMANDS[i].name, COMMANDS[i].handler, COMMANDS[i].flags,
                                     COMMANDS[i].first_key, COMMANDS[i].last_key,
                                     COMMANDS[i].key_step) != REDISMODULE_OK:
            return REDISMODULE_ERR
    if set_command_info(ctx) != REDISMODULE_OK:
        return REDISMODULE_ERR
    llapi_export(ctx)
    return RedisModule_RegisterInfoFunc(ctx, info_func)
