# What COMMAND INFO / COMMAND DOCS say about each AI.* command, and the key
# flags its key specs and getkeys callbacks report.
from redisai.rm cimport *

# How a command uses a key (REDISMODULE_CMD_KEY_*); ACL reads ACCESS as
# needing read permission and UPDATE/DELETE as needing write permission.
cdef enum:
    # tensors read, models and scripts run, LOAD keys
    KEY_READ = REDISMODULE_CMD_KEY_RO | REDISMODULE_CMD_KEY_ACCESS
    # tensors, models and scripts stored whole, outputs, PERSIST keys
    KEY_WRITE = REDISMODULE_CMD_KEY_OW | REDISMODULE_CMD_KEY_UPDATE
    # SCRIPTEXECUTE KEYS: the script may read and write them
    KEY_READ_WRITE = REDISMODULE_CMD_KEY_RW | REDISMODULE_CMD_KEY_ACCESS | REDISMODULE_CMD_KEY_UPDATE
    KEY_DELETE = REDISMODULE_CMD_KEY_RM | REDISMODULE_CMD_KEY_DELETE
    # AI.INFO, DAG ROUTING: routes the command, the value is not used
    KEY_ROUTE = REDISMODULE_CMD_KEY_RO

# Gives every registered AI.* command its summary, arity, key specs and
# arguments (Redis >= 7.0; a no-op before). OnLoad, GIL held.
cdef int set_command_info(RedisModuleCtx *ctx) noexcept
