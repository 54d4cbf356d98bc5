# cython: language_level=3
# What a running TorchScript calls back into the server: `redis.execute` and
# `redisAI.model_execute` (redisai.backends.script). Both run on the worker
# that runs the script. Lock order (STYLE.md): the GIL is dropped before the
# server lock is taken, so no thread ever holds the GIL while it waits for the
# server lock; the reply is converted after the lock is released.
from libc.errno cimport errno, EACCES, ENOENT, ENOSPC, ESPIPE
from libc.string cimport strerror

from redisai.rm cimport *
from redisai.errors cimport E_OOM, E_CALL_UNKNOWN, E_CALL_DENIED, E_CALL_NOPERM, err_text
from redisai.model cimport Model, model_retain, model_release
from redisai.types cimport ModelType
from redisai.bridge cimport CallContext, current_call, set_script_host

cdef object HostError = None


cdef const CallContext *require_call() except NULL:
    global HostError
    if HostError is None:
        from redisai.backends.script import HostError as error_class
        HostError = error_class
    cdef const CallContext *call = current_call()
    if call == NULL:
        raise RuntimeError("only a script run by the server can call back into it")
    return call


cdef RedisModuleCtx *enter_server(const CallContext *call) noexcept nogil:
    """A context for the script's request, with the server lock held (a
    synchronous run on the main thread holds it already)."""
    cdef RedisModuleCtx *ctx = RedisModule_GetThreadSafeContext(call.bc)
    if not call.holds_lock:
        RedisModule_ThreadSafeContextLock(ctx)
    return ctx


cdef void leave_server(RedisModuleCtx *ctx, const CallContext *call) noexcept nogil:
    if not call.holds_lock:
        RedisModule_ThreadSafeContextUnlock(ctx)
    RedisModule_FreeThreadSafeContext(ctx)


cdef int denied(RedisModuleString *user_name, RedisModuleString **argv, int argc) noexcept nogil:
    """The ACL check of the client that ran the script (server lock held):
    0, or RM_Call's errno for the refusal (ENOENT: no such command)."""
    if user_name == NULL:
        return 0
    cdef RedisModuleUser *user = RedisModule_GetModuleUserFromUserName(user_name)
    if user == NULL:
        return EACCES
    cdef int rc = RedisModule_ACLCheckCommandPermissions(user, argv, argc)
    cdef int why = errno
    RedisModule_FreeModuleUser(user)
    return 0 if rc == REDISMODULE_OK else (ENOENT if why == ENOENT else EACCES)


cdef str call_error(int why, str command):
    """The text of a command RM_Call refused (errno `why`)."""
    if why == ENOENT:
        return err_text(E_CALL_UNKNOWN).decode()
    if why == ESPIPE:
        return err_text(E_CALL_DENIED).decode()
    if why == ENOSPC:
        return err_text(E_OOM).decode()
    if why == EACCES:
        return err_text(E_CALL_NOPERM).decode() % command
    return strerror(why).decode()


cdef object reply_value(RedisModuleCallReply *reply):
    """A command's reply as the spec's script value; an error reply raises."""
    cdef size_t len = 0
    cdef const char *s
    cdef int kind = RedisModule_CallReplyType(reply)
    if kind == REDISMODULE_REPLY_STRING or kind == REDISMODULE_REPLY_ERROR:
        s = RedisModule_CallReplyStringPtr(reply, &len)
        text = s[:len].decode("utf-8", "replace")
        if kind == REDISMODULE_REPLY_ERROR:
            raise HostError(text)
        return text
    if kind == REDISMODULE_REPLY_INTEGER:
        return RedisModule_CallReplyInteger(reply)
    if kind == REDISMODULE_REPLY_ARRAY:
        return [reply_value(RedisModule_CallReplyArrayElement(reply, i))
                for i in range(RedisModule_CallReplyLength(reply))]
    if kind == REDISMODULE_REPLY_NULL:
        return None
    raise HostError("unsupported reply type")


cdef class ScriptHost:
    """The object redisai.backends.script calls (one per process)."""

    def execute(self, list args):
        cdef const CallContext *call = require_call()
        if not args:
            raise HostError("Invalid argument")
        encoded = [a.encode("utf-8", "surrogateescape") if isinstance(a, str) else bytes(a)
                   for a in args]
        cdef int argc = len(encoded), i
        cdef RedisModuleString **argv = <RedisModuleString **>RedisModule_Alloc(
            argc * sizeof(RedisModuleString *))
        for i in range(argc):
            argv[i] = RedisModule_CreateString(NULL, <const char *>encoded[i], len(encoded[i]))
        cdef RedisModuleCallReply *reply = NULL
        cdef int why
        cdef RedisModuleCtx *ctx
        with nogil:
            ctx = enter_server(call)
            why = denied(call.user, argv, argc)
            if why == 0:
                # "!": propagated to replicas and the AOF as it runs. "S": what
                # a Lua script may not run is refused (WAIT, MULTI, SUBSCRIBE...
                # would block or crash the server's fake client). "M": deny-oom
                # commands are refused over maxmemory, as from Lua.
                reply = RedisModule_Call(ctx, RedisModule_StringPtrLen(argv[0], NULL), b"!SMv",
                                         argv + 1, <size_t>(argc - 1))
                if reply == NULL:
                    why = errno
            # The server may keep the argument objects (a SET value): their
            # reference counts are only touched under the lock.
            for i in range(argc):
                RedisModule_FreeString(NULL, argv[i])
            leave_server(ctx, call)
            RedisModule_Free(argv)
        if reply == NULL:
            raise HostError(call_error(why, args[0]))
        try:
            return reply_value(reply)
        finally:
            RedisModule_FreeCallReply(reply)

    def model(self, str key):
        """The backend session of the model stored at `key`."""
        cdef const CallContext *call = require_call()
        name = key.encode("utf-8", "surrogateescape")
        cdef RedisModuleString *keyname = RedisModule_CreateString(NULL, name, len(name))
        cdef Model *m = NULL
        cdef int kt
        cdef bint wrongtype = False
        cdef RedisModuleCtx *ctx
        cdef RedisModuleKey *k
        with nogil:
            ctx = enter_server(call)
            k = RedisModule_OpenKey(ctx, keyname, REDISMODULE_READ)
            kt = RedisModule_KeyType(k)
            if kt == REDISMODULE_KEYTYPE_MODULE and RedisModule_ModuleTypeGetType(k) == ModelType:
                m = model_retain(<Model *>RedisModule_ModuleTypeGetValue(k))
            else:
                wrongtype = kt != REDISMODULE_KEYTYPE_EMPTY
            RedisModule_CloseKey(k)
            RedisModule_FreeString(NULL, keyname)
            leave_server(ctx, call)
        if m == NULL:
            raise HostError("WRONGTYPE Operation against a key holding the wrong kind of value"
                            if wrongtype else "ERR model key is empty")
        session = <object>m.session
        model_release(m)
        return session


set_script_host(ScriptHost())
