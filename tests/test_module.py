"""Module load, load-time arguments, AI.CONFIG and INFO MODULES (spec/config.md)."""
import time

import pytest
import redis

from conftest import MODULE, ROOT

VENV_PYTHON = ROOT / ".venv" / "bin" / "python"


def raw(client, *args):
    """The reply as sent, without redis-py's parsing (which turns INFO into a
    dict and strips the ERR of errors)."""
    connection = client.connection_pool.get_connection()
    try:
        connection.send_command(*args)
        return connection.read_response()
    finally:
        client.connection_pool.release(connection)


def info_modules(client):
    return raw(client, "INFO", "MODULES").decode()


def error_of(call):
    with pytest.raises(redis.ResponseError) as exc:
        call()
    return str(exc.value)


@pytest.mark.parametrize("args, field, value", [
    (["THREADS_PER_QUEUE", 3], "ai_threads_per_queue", "3"),
    (["threads_per_queue", 2], "ai_threads_per_queue", "2"),
    (["INTRA_OP_PARALLELISM", 2], "ai_intra_op_parallelism", "2"),
    (["INTER_OP_PARALLELISM", 4], "ai_inter_op_parallelism", "4"),
    (["MODEL_EXECUTION_TIMEOUT", 1000], "ai_model_execution_timeout", "1000"),
    (["BACKEND_MEMORY_LIMIT", 512], "ai_backend_memory_limit", "512"),
])
def test_load_time_arguments_reach_info(server_factory, args, field, value):
    client = server_factory(module_args=args).client()
    assert f"{field}:{value}\r\n" in info_modules(client)


def test_threads_per_queue_starts_that_many_cpu_workers(server_factory):
    text = info_modules(server_factory(module_args=["THREADS_PER_QUEUE", 3]).client())
    for i in (1, 2, 3):
        assert f"ai_queue_CPU_bthread_n{i}_used_cpu_total:" in text
    assert "ai_queue_CPU_bthread_n4_" not in text


def test_model_chunk_size_argument(server_factory):
    client = server_factory(module_args=["MODEL_CHUNK_SIZE", 1024]).client()
    assert client.execute_command("AI.CONFIG", "GET", "MODEL_CHUNK_SIZE") == 1024


@pytest.mark.parametrize("args, logged", [
    (["THREADS_PER_QUEUE", 0], "THREADS_PER_QUEUE 0"),
    (["THREADS_PER_QUEUE", -1], "THREADS_PER_QUEUE -1"),
    (["INTRA_OP_PARALLELISM", "abc"], "INTRA_OP_PARALLELISM abc"),
    (["INTER_OP_PARALLELISM", 0], "INTER_OP_PARALLELISM 0"),
    (["MODEL_CHUNK_SIZE", 0], "MODEL_CHUNK_SIZE 0"),
    (["MODEL_EXECUTION_TIMEOUT", 999], "MODEL_EXECUTION_TIMEOUT 999"),
    (["BACKEND_MEMORY_LIMIT", 0], "BACKEND_MEMORY_LIMIT 0"),
    (["NO_SUCH_OPTION", 1], "NO_SUCH_OPTION 1"),
])
def test_bad_argument_refuses_to_load(server_factory, args, logged):
    server = server_factory(module_args=args, start=False)
    assert server.start(expect_failure=True) != 0
    assert f"ERR error processing argument: {logged}" in server.log()


def test_odd_number_of_arguments_refuses_to_load(server_factory):
    server = server_factory(module_args=["THREADS_PER_QUEUE"], start=False)
    assert server.start(expect_failure=True) != 0
    assert "NAME VALUE pairs" in server.log()


def test_python_executable_argument(server_factory):
    client = server_factory(module_args=["PYTHON_EXECUTABLE", VENV_PYTHON]).client()
    assert client.ping()


def test_missing_python_executable_refuses_to_load(server_factory):
    server = server_factory(module_args=["PYTHON_EXECUTABLE", "/nonexistent/bin/python"],
                            start=False)
    assert server.start(expect_failure=True) != 0
    assert "redisai" in server.log()


def test_backendspath_default_and_overrides(server_factory):
    client = server_factory().client()
    assert client.execute_command("AI.CONFIG", "GET", "BACKENDSPATH") == \
        str(MODULE.parent / "backends").encode()
    client = server_factory(module_args=["BACKENDSPATH", "/opt/x"]).client()
    assert client.execute_command("AI.CONFIG", "GET", "BACKENDSPATH") == b"/opt/x"
    assert client.execute_command("AI.CONFIG", "BACKENDSPATH", "/opt/y") == b"OK"
    assert client.execute_command("AI.CONFIG", "GET", "BACKENDSPATH") == b"/opt/y"


def test_module_load_is_fast_and_imports_no_framework(server_factory):
    server = server_factory(load_module=False, config=["--enable-module-command", "yes"])
    client = server.client()
    start = time.monotonic()
    assert client.execute_command("MODULE", "LOAD", str(MODULE)) == b"OK"
    assert time.monotonic() - start < 0.5
    backends = info_modules(client).split("# ai_backends_info")[1].split("# ai_cpu")[0]
    assert backends.strip() == ""
    modules = client.execute_command("MODULE", "LIST")
    assert [b"name", b"ai", b"ver", 10207] == modules[0][:4]
    # A second load and an unload are refused; the server keeps serving.
    with pytest.raises(redis.ResponseError):
        client.execute_command("MODULE", "LOAD", str(MODULE))
    with pytest.raises(redis.ResponseError):
        client.execute_command("MODULE", "UNLOAD", "ai")
    assert client.execute_command("AI.TENSORSET", "t", "INT8", 1, "VALUES", 1) == b"OK"


def test_info_sections_in_order(r):
    text = info_modules(r)
    sections = [line for line in text.splitlines() if line.startswith("# ai_")]
    assert sections == ["# ai_versions", "# ai_git", "# ai_load_time_configs",
                        "# ai_backends_info", "# ai_cpu"]
    for field in ["ai_RedisAI_version:1.2.7", "ai_low_level_API_version:1", "ai_rdb_version:4",
                  "ai_git_sha:", "ai_threads_per_queue:1", "ai_inter_op_parallelism:0",
                  "ai_intra_op_parallelism:0", "ai_model_execution_timeout:5000",
                  "ai_backend_memory_limit:0", "ai_self_used_cpu_sys:", "ai_self_used_cpu_user:",
                  "ai_children_used_cpu_sys:", "ai_children_used_cpu_user:",
                  "ai_main_thread_used_cpu_sys:", "ai_main_thread_used_cpu_user:",
                  "ai_queue_CPU_bthread_n1_used_cpu_total:"]:
        assert field in text


def test_backends_load_with_their_real_versions(server_factory):
    """numpy, torch, onnxruntime, tensorflow and LiteRT import inside redis-server."""
    import ai_edge_litert
    import onnxruntime
    import tensorflow
    import torch
    client = server_factory().client()
    for backend in ("TORCH", "ONNX", "TF", "TFLITE"):
        assert client.execute_command("AI.CONFIG", "LOADBACKEND", backend, "x") == b"OK"
    text = info_modules(client)
    assert f"ai_Torch_version:{torch.__version__}\r\n" in text
    assert f"ai_onnxruntime_version:{onnxruntime.__version__}\r\n" in text
    assert f"ai_TensorFlow_version:{tensorflow.__version__}\r\n" in text
    assert f"ai_TensorFlowLite_version:{ai_edge_litert.__version__}\r\n" in text
    assert "ai_onnxruntime_maximum_run_sessions_number:1\r\n" in text
    # Loading again fails, as in the reference.
    assert error_of(lambda: client.execute_command("AI.CONFIG", "LOADBACKEND", "TORCH", "x")) \
        == "error loading backend: the backend is already loaded"


@pytest.mark.parametrize("args, expected", [
    (["AI.CONFIG"], "ERR wrong number of arguments for 'AI.CONFIG' command"),
    (["ai.config"], "ERR wrong number of arguments for 'ai.config' command"),
    (["AI.CONFIG", "LOADBACKEND", "TORCH"],
     "ERR wrong number of arguments for 'AI.CONFIG' command"),
    (["AI.CONFIG", "LOADBACKEND", "XLA", "x"], "ERR unsupported backend"),
    (["AI.CONFIG", "BACKENDSPATH"], "ERR BACKENDSPATH: missing path argument"),
    (["AI.CONFIG", "MODEL_CHUNK_SIZE"], "ERR MODEL_CHUNK_SIZE: missing chunk size"),
    (["AI.CONFIG", "MODEL_CHUNK_SIZE", 0], "ERR MODEL_CHUNK_SIZE: invalid chunk size"),
    (["AI.CONFIG", "MODEL_CHUNK_SIZE", -1], "ERR MODEL_CHUNK_SIZE: invalid chunk size"),
    (["AI.CONFIG", "MODEL_CHUNK_SIZE", "abc"], "ERR MODEL_CHUNK_SIZE: invalid chunk size"),
    (["AI.CONFIG", "GET"], "ERR wrong number of arguments for 'AI.CONFIG' command"),
    (["AI.CONFIG", "SET", "x"], "ERR unsupported subcommand"),
])
def test_config_errors(r, args, expected):
    with pytest.raises(redis.ResponseError) as exc:
        raw(r, *args)
    assert expected.removeprefix("ERR ") == str(exc.value)


def test_config_replies(r):
    assert r.execute_command("AI.CONFIG", "MODEL_CHUNK_SIZE", 4096) == b"OK"
    assert r.execute_command("AI.CONFIG", "GET", "MODEL_CHUNK_SIZE") == 4096
    assert r.execute_command("AI.CONFIG", "get", "model_chunk_size") == 4096
    assert r.execute_command("AI.CONFIG", "GET", "THREADS_PER_QUEUE") is None
    assert r.execute_command("AI.CONFIG", "MODEL_CHUNK_SIZE", 535822336) == b"OK"


def test_loadbackend_directory_goes_first_on_the_import_path(server_factory, tmp_path):
    """A backend path that is an existing directory is searched before the venv;
    a framework that fails to import is named in the error."""
    (tmp_path / "onnxruntime").mkdir()
    (tmp_path / "onnxruntime" / "__init__.py").write_text("raise ImportError('shadowed here')\n")
    server = server_factory()
    client = server.client()
    error = error_of(lambda: client.execute_command("AI.CONFIG", "LOADBACKEND", "ONNX", str(tmp_path)))
    # The reply names the package, the version installed and why the import failed.
    assert error.startswith("error loading backend: ")
    assert "'onnxruntime' (found version " in error and "shadowed here" in error
    assert "shadowed here" in server.log()
