#!/bin/sh
# The image's entry point.
#   no arguments, or a first argument that starts with an upper-case letter or
#   a dash: redis-server with the module loaded, the arguments appended, so
#     docker run IMG THREADS_PER_QUEUE 4 --maxmemory 2gb
#   passes THREADS_PER_QUEUE 4 to the module and --maxmemory 2gb to Redis;
#   anything else is run as the whole command, e.g.
#     docker run IMG redis-server --loadmodule /usr/lib/redis/modules/redisai.so TF x
# Protected mode is off: without it Redis refuses every client that does not
# come from inside the container, which is all of them with `docker run -p`.
# Who may connect is decided by the port mapping (or --requirepass ...).
set -e
case "${1-}" in
    '' | -* | [A-Z]*)
        exec redis-server --protected-mode no --dir /data \
            --loadmodule /usr/lib/redis/modules/redisai.so "$@" ;;
esac
exec "$@"
