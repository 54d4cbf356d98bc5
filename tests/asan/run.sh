#!/usr/bin/env bash
# make test-asan: runs the given pytest arguments against install-asan/redisai.so,
# every server under tests/asan/redis-server, then fails if any server wrote an
# AddressSanitizer report: an invalid access, or a leak that lsan.supp does not
# name. Usage: tests/asan/run.sh PYTHON PYTEST_ARGS...
set -uo pipefail
cd "$(dirname "$0")/../.."
python=$1
shift
logs=$PWD/build/asan/reports
rm -rf "$logs" && mkdir -p "$logs"

# halt_on_error: the first invalid access aborts the server (the test fails too);
# leaks are checked when a server exits normally (SHUTDOWN).
# intercept_tls_get_addr=0: GCC 12's LeakSanitizer otherwise crashes
# ("Tracer caught signal 11") scanning the dynamic TLS of the frameworks' threads.
# quarantine_size_mb=64 (default 256): freed memory ASan holds back to catch
# use-after-free counts as RSS, and tests bound RSS growth to 64 MiB.
# The caller's ASAN_OPTIONS come last and win (e.g. fast_unwind_on_malloc=0).
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:intercept_tls_get_addr=0:quarantine_size_mb=64${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
ASAN_OPTIONS+=":log_path=$logs/asan"
export LSAN_OPTIONS="suppressions=$PWD/tests/asan/lsan.supp:print_suppressions=0"
export REDISAI_MODULE=$PWD/install-asan/redisai.so
export REDISAI_REDIS_SERVER=$PWD/tests/asan/redis-server

# LeakSanitizer must be live (a green run proves nothing otherwise): a server
# that leaks on purpose (DEBUG LEAK) must write a report.
probe=$logs/probe
mkdir "$probe"
ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$probe/asan" tests/asan/redis-server --port 0 \
    --unixsocket "$probe/sock" --enable-debug-command yes --save "" --daemonize no \
    >/dev/null 2>&1 &
for _ in $(seq 100); do [ -S "$probe/sock" ] && break; sleep 0.1; done
redis-cli -s "$probe/sock" DEBUG LEAK probe >/dev/null
redis-cli -s "$probe/sock" SHUTDOWN NOSAVE >/dev/null 2>&1
wait
if ! grep -qs "LeakSanitizer: detected memory leaks" "$probe"/asan.*; then
    echo "test-asan: LeakSanitizer did not report a server's deliberate leak"
    exit 1
fi
rm -r "$probe"

# Not run: it caps the server's address space (RLIMIT_AS), and ASan, which
# reserves terabytes of shadow memory, then dies on its next mmap.
skip=(--deselect tests/test_tensor.py::test_unallocatable_zero_filled_is_an_error)
echo "test-asan: not run: ${skip[*]} (RLIMIT_AS breaks ASan)"
start=$SECONDS
"$python" -m pytest -q -p no:cacheprovider "${skip[@]}" "$@"
status=$?
echo "test-asan: pytest exited $status after $((SECONDS - start)) s"

reports=$(find "$logs" -type f | sort)
if [ -n "$reports" ]; then
    cat $reports
    echo "test-asan: $(echo "$reports" | wc -l) AddressSanitizer report(s) in $logs"
    exit 1
fi
echo "test-asan: no AddressSanitizer report"
exit $status
