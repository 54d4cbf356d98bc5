# cython: language_level=3
# COMMAND INFO / COMMAND DOCS for every AI.* command: the table below (grammar
# from spec/commands.md and dag.md), handed to Redis >= 7.0 once at load.
# Main thread, GIL held (OnLoad). Redis copies what it is given, so the C
# arrays built here live only for the call.
from libc.stdint cimport uintptr_t
from libc.stdlib cimport calloc, free

from redisai.rm cimport *

cdef enum:
    OPT = REDISMODULE_CMD_ARG_OPTIONAL
    MULTI = REDISMODULE_CMD_ARG_MULTIPLE
    INCOMPLETE = REDISMODULE_CMD_KEY_INCOMPLETE

# Where a key spec's keys end, after its begin search.
ONE, COUNTED, TO_END, UNKNOWN = range(4)


class Keys:
    """A key spec: begins at argument `index`, or after `keyword` searched
    from `startfrom` (negative: backwards from the end), or nowhere known;
    then one key, a count and that many keys, the rest, or unknown.
    INCOMPLETE in `flags` makes Redis ask the getkeys callback instead."""
    def __init__(self, flags, index=0, keyword=None, startfrom=1, find=ONE, notes=None):
        self.flags, self.index, self.keyword, self.startfrom = flags, index, keyword, startfrom
        self.find, self.notes = find, notes


class Arg:
    def __init__(self, name, type, token=None, flags=0, key=-1, sub=(), summary=None):
        self.name, self.type, self.token, self.flags = name, type, token, flags
        self.key, self.sub, self.summary = key, sub, summary


def key(name, spec, token=None, flags=0):
    return Arg(name, REDISMODULE_ARG_TYPE_KEY, token, flags, spec)

def string(name, token=None, flags=0, summary=None):
    return Arg(name, REDISMODULE_ARG_TYPE_STRING, token, flags, summary=summary)

def integer(name, token=None, flags=0):
    return Arg(name, REDISMODULE_ARG_TYPE_INTEGER, token, flags)

def token(word, flags=0):
    return Arg(word.lower(), REDISMODULE_ARG_TYPE_PURE_TOKEN, word, flags)

def oneof(name, *sub, flags=0):
    return Arg(name, REDISMODULE_ARG_TYPE_ONEOF, flags=flags, sub=sub)

def block(name, *sub, flags=0):
    return Arg(name, REDISMODULE_ARG_TYPE_BLOCK, flags=flags, sub=sub)

def tokens(name, *words, flags=0):
    return oneof(name, *[token(w) for w in words], flags=flags)


class Command:
    def __init__(self, summary, complexity, since, keys=(), args=(), tips=None):
        self.summary, self.complexity, self.since = summary, complexity, since
        self.keys, self.args, self.tips = keys, args, tips


# Shared pieces of the grammar.
STORED = Keys(KEY_WRITE, index=1)
READ = Keys(KEY_READ, index=1)
DELETED = Keys(KEY_DELETE, index=1)
BACKEND = tokens("backend", "TF", "TFLITE", "TORCH", "ONNX")
TAG = string("tag", "TAG", OPT)
BATCHING = block("batching", integer("batchsize", "BATCHSIZE"),
                 block("min_batch", integer("minbatchsize", "MINBATCHSIZE"),
                       integer("minbatchtimeout", "MINBATCHTIMEOUT", OPT), flags=OPT), flags=OPT)
TIMEOUT = integer("timeout", "TIMEOUT", OPT)
OPS_RUN = "an AI.TENSORSET, AI.TENSORGET, AI.MODELRUN or AI.SCRIPTRUN with its arguments"
OP_KEYS = Keys(KEY_READ | INCOMPLETE, find=UNKNOWN,
               notes="the model or script key after each AI.MODELEXECUTE / AI.SCRIPTEXECUTE "
                     "(AI.MODELRUN / AI.SCRIPTRUN) op name")


def dag(summary, since, read_only, ops):
    """The four DAG commands: [LOAD] [PERSIST] [ROUTING] [TIMEOUT] |> op ..."""
    keys = [Keys(KEY_READ | INCOMPLETE, keyword="LOAD", find=COUNTED)]
    args = [block("load", integer("key_count", "LOAD"), key("key", 0, flags=MULTI), flags=OPT)]
    if not read_only:
        keys.append(Keys(KEY_WRITE | INCOMPLETE, keyword="PERSIST", find=COUNTED))
        args.append(block("persist", integer("key_count", "PERSIST"), key("key", 1, flags=MULTI),
                          flags=OPT))
    keys.append(Keys(KEY_ROUTE | INCOMPLETE, keyword="ROUTING",
                     notes="a key or hash tag that only routes the command"))
    args += [key("routing", len(keys) - 1, "ROUTING", OPT), TIMEOUT,
             string("op", "|>", REDISMODULE_CMD_ARG_MULTIPLE_TOKEN, ops)]
    return Command(summary, "Depends on the operations", since, keys + [OP_KEYS], args)


# Execution commands describe their keys for COMMAND INFO, but each has a
# spec marked INCOMPLETE (a keyword search can hit a key named like the
# keyword), so cluster, ACL and COMMAND GETKEYS use the exact getkeys callbacks.
COMMANDS = {
    b"AI.TENSORSET": Command(
        "Stores a tensor", "O(N) where N is the number of elements", "1.0.0", [STORED],
        [key("key", 0), tokens("type", "FLOAT", "DOUBLE", "INT8", "INT16", "INT32", "INT64",
                               "UINT8", "UINT16", "BOOL", "STRING"),
         integer("shape", flags=OPT | MULTI),
         oneof("data", string("blob", "BLOB"), string("value", "VALUES", MULTI), flags=OPT)]),
    b"AI.TENSORGET": Command(
        "Returns a tensor's type and shape, its data, or both",
        "O(N) where N is the number of elements", "1.0.0", [READ],
        [key("key", 0), token("META", OPT), tokens("format", "BLOB", "VALUES", flags=OPT)]),
    b"AI._TENSORVIEW": Command(
        "Diagnostics: describes a tensor as the backends see it", "O(1)", "1.2.7", [READ],
        [key("key", 0)]),
    b"AI.CONFIG": Command(
        "Loads a backend, or sets or gets a setting, of this node", "O(1)", "1.0.0", [],
        [oneof("setting",
               block("loadbackend", token("LOADBACKEND"), BACKEND, string("path")),
               string("backendspath", "BACKENDSPATH"),
               integer("model_chunk_size", "MODEL_CHUNK_SIZE"),
               block("get", token("GET"), tokens("name", "BACKENDSPATH", "MODEL_CHUNK_SIZE")))]),
    b"AI.MODELSTORE": Command(
        "Stores a model from its serialized form", "O(N) where N is the size of the model", "1.2.0",
        [STORED],
        [key("key", 0), BACKEND, string("device"), TAG, BATCHING,
         block("io", integer("input_count", "INPUTS"), string("input", flags=MULTI),
               integer("output_count", "OUTPUTS"), string("output", flags=MULTI), flags=OPT),
         string("blob", "BLOB", MULTI, "the serialized model, in one or more chunks")]),
    b"AI.MODELSET": Command(
        "Stores a model (deprecated: use AI.MODELSTORE)", "O(N) where N is the size of the model",
        "1.0.0", [STORED],
        [key("key", 0), BACKEND, string("device"), TAG, BATCHING,
         block("io", string("input", "INPUTS", MULTI), string("output", "OUTPUTS", MULTI), flags=OPT),
         string("blob", "BLOB", MULTI, "the serialized model, in one or more chunks")]),
    b"AI.MODELGET": Command(
        "Returns a model's metadata, its serialized form, or both",
        "O(N) where N is the size of the model", "1.0.0", [READ],
        [key("key", 0), token("META", OPT), token("BLOB", OPT)]),
    b"AI.MODELDEL": Command("Deletes a model", "O(1)", "1.0.0", [DELETED], [key("key", 0)]),
    b"AI.MODELEXECUTE": Command(
        "Runs a model on tensors and stores its outputs", "Depends on the model", "1.2.0",
        [READ, Keys(KEY_READ, keyword="INPUTS", startfrom=2, find=COUNTED),
         Keys(KEY_WRITE | INCOMPLETE, keyword="OUTPUTS", startfrom=2, find=COUNTED)],
        [key("key", 0), integer("input_count", "INPUTS"), key("input", 1, flags=MULTI),
         integer("output_count", "OUTPUTS"), key("output", 2, flags=MULTI), TIMEOUT]),
    b"AI.MODELRUN": Command(
        "Runs a model (deprecated: use AI.MODELEXECUTE)", "Depends on the model", "1.0.0",
        [READ, Keys(KEY_READ | INCOMPLETE, keyword="INPUTS", startfrom=2, find=UNKNOWN,
                     notes="up to the OUTPUTS token"),
         Keys(KEY_WRITE | INCOMPLETE, keyword="OUTPUTS", startfrom=-1, find=TO_END)],
        [key("key", 0), TIMEOUT, key("input", 1, "INPUTS", MULTI),
         key("output", 2, "OUTPUTS", MULTI)]),
    b"AI._MODELSCAN": Command(
        "Lists the models of this node with their tags", "O(N) where N is the number of models",
        "1.0.0", tips="request_policy:all_shards nondeterministic_output_order"),
    b"AI.INFO": Command(
        "Returns a model's or script's run statistics, or resets them", "O(1)", "1.0.0",
        [Keys(KEY_ROUTE, index=1)], [key("key", 0), token("RESETSTAT", OPT)],
        tips="nondeterministic_output"),
    b"AI.SCRIPTSTORE": Command(
        "Stores a TorchScript script and its entry points", "O(N) where N is the size of the source",
        "1.2.0", [STORED],
        [key("key", 0), string("device"), TAG, integer("entry_point_count", "ENTRY_POINTS"),
         string("entry_point", flags=MULTI), string("source", "SOURCE")]),
    b"AI.SCRIPTSET": Command(
        "Stores a TorchScript script (deprecated: use AI.SCRIPTSTORE)",
        "O(N) where N is the size of the source", "1.0.0", [STORED],
        [key("key", 0), string("device"), TAG, string("source", "SOURCE")]),
    b"AI.SCRIPTGET": Command(
        "Returns a script's metadata, its source, or both", "O(N) where N is the size of the source",
        "1.0.0", [READ], [key("key", 0), token("META", OPT), token("SOURCE", OPT)]),
    b"AI.SCRIPTDEL": Command("Deletes a script", "O(1)", "1.0.0", [DELETED], [key("key", 0)]),
    b"AI.SCRIPTEXECUTE": Command(
        "Runs a function of a script on keys, tensors and arguments, and stores its outputs",
        "Depends on the script", "1.2.0",
        [READ, Keys(KEY_READ_WRITE | INCOMPLETE, keyword="KEYS", startfrom=3, find=COUNTED),
         Keys(KEY_READ | INCOMPLETE, keyword="INPUTS", startfrom=3, find=COUNTED),
         Keys(KEY_WRITE | INCOMPLETE, keyword="OUTPUTS", startfrom=3, find=COUNTED)],
        [key("key", 0), string("function"),
         block("keys", integer("key_count", "KEYS"), key("key", 1, flags=MULTI), flags=OPT),
         block("inputs", integer("input_count", "INPUTS"), key("input", 2, flags=MULTI), flags=OPT),
         block("args", integer("arg_count", "ARGS"), string("arg", flags=MULTI), flags=OPT),
         block("outputs", integer("output_count", "OUTPUTS"), key("output", 3, flags=MULTI),
               flags=OPT),
         TIMEOUT]),
    b"AI.SCRIPTRUN": Command(
        "Runs a function of a script (deprecated: use AI.SCRIPTEXECUTE)", "Depends on the script",
        "1.0.0",
        [READ, Keys(KEY_READ | INCOMPLETE, keyword="INPUTS", startfrom=3, find=UNKNOWN,
                     notes="up to the OUTPUTS token, except `$`"),
         Keys(KEY_WRITE | INCOMPLETE, keyword="OUTPUTS", startfrom=-1, find=TO_END)],
        [key("key", 0), string("function"), TIMEOUT,
         key("input", 1, "INPUTS", MULTI), key("output", 2, "OUTPUTS", MULTI | OPT)]),
    b"AI._SCRIPTSCAN": Command(
        "Lists the scripts of this node with their tags", "O(N) where N is the number of scripts",
        "1.0.0", tips="request_policy:all_shards nondeterministic_output_order"),
    b"AI.DAGEXECUTE": dag(
        "Runs tensor, model and script operations on shared intermediate tensors", "1.2.0", False,
        "an AI.TENSORSET, AI.TENSORGET, AI.MODELEXECUTE or AI.SCRIPTEXECUTE with its arguments"),
    b"AI.DAGEXECUTE_RO": dag(
        "Runs tensor and model operations on intermediate tensors, writing no key", "1.2.0", True,
        "an AI.TENSORSET, AI.TENSORGET or AI.MODELEXECUTE with its arguments"),
    b"AI.DAGRUN": dag(
        "Runs a DAG of operations (deprecated: use AI.DAGEXECUTE)", "1.0.0", False, OPS_RUN),
    b"AI.DAGRUN_RO": dag(
        "Runs a read-only DAG of operations (deprecated: use AI.DAGEXECUTE_RO)", "1.0.0", True,
        OPS_RUN),
}


cdef class Arena:
    """Keeps the encoded strings and C arrays of one SetCommandInfo call."""
    cdef list held

    def __cinit__(self):
        self.held = []

    def __dealloc__(self):
        for p in self.held:
            if isinstance(p, int):
                free(<void *><uintptr_t>p)

    cdef const char *text(self, s) except? NULL:
        if s is None:
            return NULL
        b = s.encode() if isinstance(s, str) else s
        self.held.append(b)
        return <const char *>b

    cdef void *zeroed(self, size_t n, size_t size) except NULL:
        cdef void *p = calloc(n, size)
        if p == NULL:
            raise MemoryError()
        self.held.append(<uintptr_t>p)
        return p

    cdef RedisModuleCommandKeySpec *key_specs(self, specs) except NULL:
        cdef RedisModuleCommandKeySpec *out = <RedisModuleCommandKeySpec *>self.zeroed(
            len(specs) + 1, sizeof(RedisModuleCommandKeySpec))
        cdef RedisModuleCommandKeySpec *k
        for i, s in enumerate(specs):
            k = &out[i]
            k.notes = self.text(s.notes)
            k.flags = s.flags
            if s.index:
                k.begin_search_type = REDISMODULE_KSPEC_BS_INDEX
                k.bs.index.pos = s.index
            elif s.keyword:
                k.begin_search_type = REDISMODULE_KSPEC_BS_KEYWORD
                k.bs.keyword.keyword = self.text(s.keyword)
                k.bs.keyword.startfrom = s.startfrom
            else:
                k.begin_search_type = REDISMODULE_KSPEC_BS_UNKNOWN
            if s.find == COUNTED:
                k.find_keys_type = REDISMODULE_KSPEC_FK_KEYNUM
                k.fk.keynum.keynumidx, k.fk.keynum.firstkey, k.fk.keynum.keystep = 0, 1, 1
            elif s.find == TO_END:
                k.find_keys_type = REDISMODULE_KSPEC_FK_RANGE
                k.fk.range.lastkey, k.fk.range.keystep, k.fk.range.limit = -1, 1, 0
            elif s.find == UNKNOWN:
                k.find_keys_type = REDISMODULE_KSPEC_FK_UNKNOWN
        return out

    cdef RedisModuleCommandArg *args(self, args) except NULL:
        cdef RedisModuleCommandArg *out = <RedisModuleCommandArg *>self.zeroed(
            len(args) + 1, sizeof(RedisModuleCommandArg))
        cdef RedisModuleCommandArg *a
        for i, arg in enumerate(args):
            a = &out[i]
            a.name = self.text(arg.name)
            a.type = <RedisModuleCommandArgType><int>arg.type
            a.key_spec_index = arg.key
            a.token = self.text(arg.token)
            a.summary = self.text(arg.summary)
            a.flags = arg.flags
            if arg.sub:
                a.subargs = self.args(arg.sub)
        return out


cdef int set_one(RedisModuleCtx *ctx, bytes name, command) except -1:
    cdef Arena arena = Arena()
    cdef RedisModuleCommandInfo info
    info.version = &rm_command_info_version
    info.summary = arena.text(command.summary)
    info.complexity = arena.text(command.complexity)
    info.since = arena.text(command.since)
    info.history = NULL
    info.tips = arena.text(command.tips)
    # Redis's own arity check would run first, name the command in upper
    # case (the spec wants it as typed) and pre-empt the in-transaction
    # error, so every command checks its arity itself.
    info.arity = -1
    info.key_specs = arena.key_specs(command.keys) if command.keys else NULL
    info.args = arena.args(command.args) if command.args else NULL
    cdef RedisModuleCommand *cmd = RedisModule_GetCommand(ctx, name)
    if cmd == NULL or RedisModule_SetCommandInfo(cmd, &info) != REDISMODULE_OK:
        RedisModule_Log(ctx, b"warning", b"redisai: the server refused the command info of %s",
                        <const char *>name)
        return REDISMODULE_ERR
    return REDISMODULE_OK


cdef int set_command_info(RedisModuleCtx *ctx) noexcept:
    if RedisModule_GetCommand == NULL or RedisModule_SetCommandInfo == NULL:
        return REDISMODULE_OK   # Redis 6: the legacy first/last/step and getkeys only
    try:
        for name, command in COMMANDS.items():
            if set_one(ctx, name, command) != REDISMODULE_OK:
                return REDISMODULE_ERR
    except Exception as exc:
        message = repr(exc).encode()
        RedisModule_Log(ctx, b"warning", b"redisai: command info: %s", <const char *>message)
        return REDISMODULE_ERR
    return REDISMODULE_OK
