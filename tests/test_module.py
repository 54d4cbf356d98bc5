"""Module load, load-time arguments, AI.CONFIG and INFO MODULES (spec/config.md,
spec/README.md "Module identity", STYLE.md's embedding facts).

Error texts are read off the wire (redis-py strips a leading "ERR "), so they
are compared exactly as the spec writes them.
"""
import re
import socket
import time

import pytest
import redis

from conftest import MODULE, ROOT, Server

VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
MODULE_VERSION = 10207          # 1.2.7: major*10000 + minor*100 + patch
DEFAULT_CHUNK_SIZE = 535822336
DEFAULT_LOAD_TIME_CONFIGS = [
    ("ai_threads_per_queue", "1"), ("ai_inter_op_parallelism", "0"),
    ("ai_intra_op_parallelism", "0"), ("ai_model_execution_timeout", "5000"),
    ("ai_backend_memory_limit", "0")]
SECTIONS = ["ai_versions", "ai_git", "ai_load_time_configs", "ai_backends_info", "ai_cpu"]
CPU_FIELDS = ["ai_self_used_cpu_sys", "ai_self_used_cpu_user", "ai_children_used_cpu_sys",
              "ai_children_used_cpu_user", "ai_main_thread_used_cpu_sys",
              "ai_main_thread_used_cpu_user"]
CPU_TIME = re.compile(r"^(\d+\.\d{6}|N/A)$")
ARITY = "ERR wrong number of arguments for '{}' command"


# --- talking to the server ---------------------------------------------------------------------

def wire(client, *args):
    """Sends one command on a fresh socket and returns the RESP2 reply as
    sent: errors as ("error", text), bulk strings as bytes, integers as int."""
    kwargs = client.connection_pool.connection_kwargs
    with socket.create_connection((kwargs["host"], kwargs["port"]), timeout=60) as sock:
        request = b"*%d\r\n" % len(args)
        for arg in args:
            arg = arg if isinstance(arg, bytes) else str(arg).encode()
            request += b"$%d\r\n%s\r\n" % (len(arg), arg)
        sock.sendall(request)
        reply = sock.makefile("rb")
        line = reply.readline()[:-2]
        kind, rest = line[:1], line[1:]
        if kind == b"-":
            return "error", rest.decode()
        if kind == b"+":
            return rest.decode()
        if kind == b":":
            return int(rest)
        assert kind == b"$", line
        return None if int(rest) < 0 else reply.read(int(rest) + 2)[:-2]


def wire_error(client, *args):
    reply = wire(client, *args)
    assert isinstance(reply, tuple), f"expected an error, got {reply!r}"
    return reply[1]


def info_sections(client):
    """The module's INFO sections in order: {section: [(field, value), ...]}."""
    sections, current = {}, None
    for line in wire(client, "INFO", "MODULES").decode().splitlines():
        if line.startswith("# "):
            current = sections.setdefault(line[2:], [])
        elif line and current is not None:
            current.append(tuple(line.split(":", 1)))
    return {name: fields for name, fields in sections.items() if name.startswith("ai_")}


def info_fields(client, section):
    return dict(info_sections(client)[section])


def pairs(flat):
    return dict(zip(flat[0::2], flat[1::2]))


def config_get(client, name):
    return client.execute_command("AI.CONFIG", "GET", name)


# The reference's library of each backend, relative to BACKENDSPATH.
LIBRARY = {name: f"redisai_{lib}/redisai_{lib}.so" for name, lib in [
    ("TF", "tensorflow"), ("TFLITE", "tflite"), ("TORCH", "torch"), ("ONNX", "onnxruntime")]}


def load_backend(client, backend, path=None):
    path = LIBRARY[backend.upper()] if path is None else path
    return client.execute_command("AI.CONFIG", "LOADBACKEND", backend, str(path))


def mapped_files(server):
    """Shared objects mapped into the server process."""
    with open(f"/proc/{server.proc.pid}/maps") as maps:
        return maps.read()


def refuses_to_start(server_factory, module_args):
    server = server_factory(module_args=module_args, start=False)
    assert server.start(expect_failure=True) != 0
    assert "Module not loaded" in server.log()
    return server.log()


def shadowing_package(directory, name):
    """A package named like a framework that fails to import with a message
    naming `directory`. A backend path that is a directory goes first on the
    import path, so a load that fails with that message proves the path was
    resolved to `directory` (and a load that succeeds, that it was not)."""
    (directory / name).mkdir(parents=True)
    (directory / name / "__init__.py").write_text(f"raise ImportError('shadowed in {directory}')\n")
    return f"shadowed in {directory}"


@pytest.fixture(scope="module")
def backends_server(tmp_path_factory):
    """One server that imported torch and onnxruntime (a few seconds), shared by
    the tests that only read what loading them changed."""
    server = Server(tmp_path_factory.mktemp("backends"))
    server.start()
    client = server.client()
    assert load_backend(client, "TORCH") == b"OK"
    assert load_backend(client, "ONNX") == b"OK"
    yield server
    server.stop()


# --- load-time arguments -----------------------------------------------------------------------

@pytest.mark.parametrize("name, value, field", [
    ("THREADS_PER_QUEUE", 3, "ai_threads_per_queue"),
    ("INTRA_OP_PARALLELISM", 2, "ai_intra_op_parallelism"),
    ("INTER_OP_PARALLELISM", 4, "ai_inter_op_parallelism"),
    ("MODEL_EXECUTION_TIMEOUT", 1000, "ai_model_execution_timeout"),
    ("MODEL_EXECUTION_TIMEOUT", 60000, "ai_model_execution_timeout"),
    ("BACKEND_MEMORY_LIMIT", 512, "ai_backend_memory_limit"),
])
def test_load_time_argument_reported_in_info(server_factory, name, value, field):
    server = server_factory(module_args=[name, value])
    expected = dict(DEFAULT_LOAD_TIME_CONFIGS, **{field: str(value)})
    assert info_sections(server.client())["ai_load_time_configs"] == list(expected.items())
    assert f"Setting {name} parameter to: {value}" in server.log()


def test_all_load_time_arguments_together(server_factory):
    server = server_factory(module_args=[
        "THREADS_PER_QUEUE", 2, "INTRA_OP_PARALLELISM", 3, "INTER_OP_PARALLELISM", 5,
        "MODEL_CHUNK_SIZE", 4096, "MODEL_EXECUTION_TIMEOUT", 2500, "BACKEND_MEMORY_LIMIT", 64])
    client = server.client()
    assert info_sections(client)["ai_load_time_configs"] == [
        ("ai_threads_per_queue", "2"), ("ai_inter_op_parallelism", "5"),
        ("ai_intra_op_parallelism", "3"), ("ai_model_execution_timeout", "2500"),
        ("ai_backend_memory_limit", "64")]
    assert config_get(client, "MODEL_CHUNK_SIZE") == 4096


def test_argument_names_are_case_insensitive(server_factory):
    client = server_factory(module_args=[
        "threads_per_queue", 2, "Intra_Op_Parallelism", 3, "model_chunk_size", 2048]).client()
    fields = info_fields(client, "ai_load_time_configs")
    assert (fields["ai_threads_per_queue"], fields["ai_intra_op_parallelism"]) == ("2", "3")
    assert config_get(client, "MODEL_CHUNK_SIZE") == 2048


def test_model_chunk_size_argument(server_factory):
    server = server_factory(module_args=["MODEL_CHUNK_SIZE", 1024])
    assert config_get(server.client(), "MODEL_CHUNK_SIZE") == 1024
    assert "Setting MODEL_CHUNK_SIZE parameter to: 1024" in server.log()


def test_threads_per_queue_starts_that_many_cpu_workers(server_factory):
    client = server_factory(module_args=["THREADS_PER_QUEUE", 3]).client()
    queue_fields = [f for f, _ in info_sections(client)["ai_cpu"] if f.startswith("ai_queue_")]
    assert queue_fields == [f"ai_queue_CPU_bthread_n{i}_used_cpu_total" for i in (1, 2, 3)]
    # ONNX Runtime's session count is the number of worker threads of all queues.
    assert load_backend(client, "ONNX") == b"OK"
    fields = info_fields(client, "ai_backends_info")
    assert fields["ai_onnxruntime_maximum_run_sessions_number"] == "3"


@pytest.mark.parametrize("name, value", [
    ("THREADS_PER_QUEUE", "0"), ("THREADS_PER_QUEUE", "-1"), ("THREADS_PER_QUEUE", "abc"),
    ("THREADS_PER_QUEUE", "1.5"), ("THREADS_PER_QUEUE", "+2"), ("THREADS_PER_QUEUE", "007"),
    ("INTRA_OP_PARALLELISM", "0"), ("INTRA_OP_PARALLELISM", "-1"), ("INTRA_OP_PARALLELISM", "abc"),
    ("INTER_OP_PARALLELISM", "0"), ("INTER_OP_PARALLELISM", "-1"), ("INTER_OP_PARALLELISM", "abc"),
    ("MODEL_CHUNK_SIZE", "0"), ("MODEL_CHUNK_SIZE", "-1"), ("MODEL_CHUNK_SIZE", "abc"),
    ("MODEL_EXECUTION_TIMEOUT", "999"), ("MODEL_EXECUTION_TIMEOUT", "0"),
    ("MODEL_EXECUTION_TIMEOUT", "-1"), ("MODEL_EXECUTION_TIMEOUT", "abc"),
    ("BACKEND_MEMORY_LIMIT", "0"), ("BACKEND_MEMORY_LIMIT", "-1"), ("BACKEND_MEMORY_LIMIT", "abc"),
    ("NO_SUCH_OPTION", "1"),
])
def test_invalid_argument_refuses_to_load(server_factory, name, value):
    log = refuses_to_start(server_factory, [name, value])
    assert f"ERR error processing argument: {name} {value}" in log


def test_invalid_argument_after_valid_ones_refuses_to_load(server_factory):
    log = refuses_to_start(server_factory, ["THREADS_PER_QUEUE", 2, "INTER_OP_PARALLELISM", 0])
    assert "ERR error processing argument: INTER_OP_PARALLELISM 0" in log


@pytest.mark.parametrize("args", [["THREADS_PER_QUEUE"],
                                  ["THREADS_PER_QUEUE", 2, "BACKEND_MEMORY_LIMIT"]])
def test_odd_number_of_arguments_refuses_to_load(server_factory, args):
    refuses_to_start(server_factory, args)


# --- BACKENDSPATH and backend paths -------------------------------------------------------------

def test_backendspath_defaults_to_the_module_directory(r):
    assert config_get(r, "BACKENDSPATH") == str(MODULE.parent / "backends").encode()


def test_backendspath_load_time_argument_and_config(server_factory):
    client = server_factory(module_args=["BACKENDSPATH", "/opt/redisai/backends"]).client()
    assert config_get(client, "BACKENDSPATH") == b"/opt/redisai/backends"
    # Not validated: any path is accepted.
    assert client.execute_command("AI.CONFIG", "BACKENDSPATH", "/no/such/dir") == b"OK"
    assert config_get(client, "BACKENDSPATH") == b"/no/such/dir"


def test_relative_backend_path_is_resolved_under_backendspath(server_factory, tmp_path):
    """BACKENDSPATH is applied first even when given after the backend."""
    marker = shadowing_package(tmp_path / "mine", "torch")
    log = refuses_to_start(server_factory, ["TORCH", "mine", "BACKENDSPATH", tmp_path])
    assert "ERR error processing argument: TORCH mine" in log
    assert marker in log


def test_loadbackend_relative_and_absolute_paths(server_factory, tmp_path):
    relative = shadowing_package(tmp_path / "relative", "onnxruntime")
    absolute = shadowing_package(tmp_path / "absolute", "torch")
    server = server_factory()
    client = server.client()
    assert client.execute_command("AI.CONFIG", "BACKENDSPATH", str(tmp_path)) == b"OK"
    with pytest.raises(redis.ResponseError):
        load_backend(client, "onnx", "relative")              # backend names: any case
    assert relative in server.log()
    with pytest.raises(redis.ResponseError):
        load_backend(client, "Torch", tmp_path / "absolute")
    assert absolute in server.log()
    assert info_sections(client)["ai_backends_info"] == []


def test_backend_that_cannot_be_imported(server_factory, tmp_path):
    shadowing_package(tmp_path, "onnxruntime")
    log = refuses_to_start(server_factory, ["ONNX", tmp_path])
    assert f"ERR error processing argument: ONNX {tmp_path}" in log

    client = server_factory().client()
    # The spec's text, then why: the package, the version found, the import error.
    error = wire_error(client, "AI.CONFIG", "LOADBACKEND", "ONNX", tmp_path)
    assert error.startswith("ERR error loading backend: ")
    assert "'onnxruntime' (found version " in error and "shadowed" in error
    assert info_sections(client)["ai_backends_info"] == []
    assert client.ping()


def test_reference_library_paths_use_the_virtualenv(server_factory, tmp_path):
    """RedisAI's library names keep working, relative or absolute (the file
    need not exist): the framework comes from the virtualenv."""
    client = server_factory(module_args=["ONNX", LIBRARY["ONNX"]]).client()
    assert "ai_onnxruntime_version" in info_fields(client, "ai_backends_info")
    assert load_backend(client, "TORCH", tmp_path / LIBRARY["TORCH"]) == b"OK"
    assert "ai_Torch_version" in info_fields(client, "ai_backends_info")


def test_loadbackend_path_that_is_neither_library_nor_package_fails(server_factory):
    """Nothing is imported and the backend stays unloaded: the right path
    still loads it afterwards."""
    server = server_factory()
    client = server.client()
    for path in [".", "no-such-dir", "/", "redisai_torch", "redisai_torch/redisai_torch",
                 "redisai_onnxruntime/redisai_onnxruntime.so",      # another backend's library
                 "torch/redisai_torch.so"]:
        error = wire_error(client, "AI.CONFIG", "LOADBACKEND", "TORCH", path)
        assert error.startswith("ERR error loading backend: "), path
        assert "is neither redisai_torch/redisai_torch.so nor a directory holding the " \
            "'torch' package" in error
    assert info_sections(client)["ai_backends_info"] == []
    assert "libtorch" not in mapped_files(server)
    assert load_backend(client, "TORCH") == b"OK"


def test_loadbackend_directory_without_the_package_fails(server_factory, tmp_path):
    (tmp_path / "torch").mkdir()                 # no __init__.py: not the package
    (tmp_path / "onnxruntime").mkdir()
    (tmp_path / "onnxruntime" / "__init__.py").write_text("")
    client = server_factory().client()
    for path in (tmp_path, tmp_path / "torch"):
        assert wire_error(client, "AI.CONFIG", "LOADBACKEND", "TORCH", path).startswith(
            "ERR error loading backend: ")
    assert info_sections(client)["ai_backends_info"] == []


@pytest.mark.parametrize("path", [".", "no-such-dir", "redisai_tflite/redisai_tflite.so"])
def test_load_time_backend_path_that_is_neither_library_nor_package_refuses_to_load(
        server_factory, path):
    log = refuses_to_start(server_factory, ["TORCH", path])
    assert f"ERR error processing argument: TORCH {path}" in log
    assert "is neither redisai_torch/redisai_torch.so" in log


# --- the interpreter ----------------------------------------------------------------------------

def test_python_executable_argument_chooses_the_interpreter(server_factory):
    client = server_factory(module_args=["PYTHON_EXECUTABLE", VENV_PYTHON]).client()
    # The frameworks come from that interpreter's site-packages.
    assert load_backend(client, "ONNX") == b"OK"


def test_missing_python_executable_refuses_to_load(server_factory):
    log = refuses_to_start(server_factory, ["PYTHON_EXECUTABLE", "/nonexistent/bin/python"])
    assert any("<ai>" in line and "/nonexistent/bin/python" in line for line in log.splitlines())


# --- loading through a symbolic link -----------------------------------------------------------

def test_module_loads_through_a_symbolic_link(server_factory, tmp_path):
    """The module's Python package is found beside the real file (a link to a
    relative link here), and so is the default BACKENDSPATH."""
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "redisai.so").symlink_to(MODULE)
    (tmp_path / "redisai.so").symlink_to("lib/redisai.so")
    server = server_factory(module=tmp_path / "redisai.so")
    client = server.client()
    assert client.execute_command("AI.TENSORSET", "t", "FLOAT", 1, "VALUES", 2) == b"OK"
    assert client.execute_command("AI.TENSORGET", "t", "VALUES") == [b"2"]
    assert config_get(client, "BACKENDSPATH") == str(MODULE.parent / "backends").encode()
    assert load_backend(client, "ONNX") == b"OK"


# --- MODULE LOAD / UNLOAD -----------------------------------------------------------------------

@pytest.fixture
def bare_server(server_factory):
    """A server without the module that lets MODULE LOAD run (Redis 7 refuses
    the MODULE command by default)."""
    return server_factory(load_module=False, config=["--enable-module-command", "yes"])


def test_module_load_is_fast_and_imports_no_framework(bare_server):
    client = bare_server.client()
    start = time.monotonic()
    assert client.execute_command("MODULE", "LOAD", str(MODULE)) == b"OK"
    assert time.monotonic() - start < 0.5
    assert info_sections(client)["ai_backends_info"] == []
    maps = mapped_files(bare_server)
    assert "libpython" in maps
    for framework in ("libtorch", "onnxruntime", "tensorflow", "_multiarray_umath"):
        assert framework not in maps, f"{framework} is loaded before any LOADBACKEND"


def test_module_load_with_arguments(bare_server):
    client = bare_server.client()
    assert client.execute_command("MODULE", "LOAD", str(MODULE), "THREADS_PER_QUEUE", 2) == b"OK"
    assert info_fields(client, "ai_load_time_configs")["ai_threads_per_queue"] == "2"


def test_second_module_load_fails_and_the_server_survives(bare_server):
    client = bare_server.client()
    assert client.execute_command("MODULE", "LOAD", str(MODULE)) == b"OK"
    with pytest.raises(redis.ResponseError):
        client.execute_command("MODULE", "LOAD", str(MODULE))
    assert client.ping()
    assert [m[b"name"] for m in map(pairs, client.execute_command("MODULE", "LIST"))] == [b"ai"]
    assert client.execute_command("AI.TENSORSET", "t", "INT8", 1, "VALUES", 1) == b"OK"


def test_module_unload_is_refused(bare_server):
    client = bare_server.client()
    assert client.execute_command("MODULE", "LOAD", str(MODULE)) == b"OK"
    assert client.execute_command("AI.TENSORSET", "t", "INT8", 2, "VALUES", 1, 2) == b"OK"
    with pytest.raises(redis.ResponseError):
        client.execute_command("MODULE", "UNLOAD", "ai")
    assert client.execute_command("AI.TENSORGET", "t", "VALUES") == [1, 2]
    assert client.execute_command("AI.CONFIG", "GET", "MODEL_CHUNK_SIZE") == DEFAULT_CHUNK_SIZE


# --- INFO MODULES -------------------------------------------------------------------------------

def test_info_sections_and_fields(r):
    sections = info_sections(r)
    assert list(sections) == SECTIONS
    versions = sections["ai_versions"]
    assert [f for f, _ in versions] == ["ai_RedisAI_version", "ai_low_level_API_version",
                                       "ai_rdb_version"]
    major, minor, patch = map(int, dict(versions)["ai_RedisAI_version"].split("."))
    assert major * 10000 + minor * 100 + patch == MODULE_VERSION
    assert dict(versions)["ai_low_level_API_version"] == "1"
    assert dict(versions)["ai_rdb_version"] == "4"
    [(field, sha)] = sections["ai_git"]
    assert field == "ai_git_sha" and sha
    assert sections["ai_load_time_configs"] == DEFAULT_LOAD_TIME_CONFIGS
    cpu = sections["ai_cpu"]
    assert [f for f, _ in cpu] == [*CPU_FIELDS, "ai_queue_CPU_bthread_n1_used_cpu_total"]
    for field, value in cpu:
        assert CPU_TIME.match(value), (field, value)


def test_backends_info_is_empty_before_any_backend_is_loaded(server_factory):
    assert info_sections(server_factory().client())["ai_backends_info"] == []


def test_backends_info_after_torch_and_onnx(backends_server):
    import onnxruntime
    import torch
    client = backends_server.client()
    sections = info_sections(client)
    assert list(sections) == SECTIONS
    fields = sections["ai_backends_info"]
    assert [f for f, _ in fields] == [
        "ai_Torch_version", "ai_onnxruntime_version", "ai_onnxruntime_memory",
        "ai_onnxruntime_memory_access_num", "ai_onnxruntime_maximum_run_sessions_number"]
    fields = dict(fields)
    assert fields["ai_Torch_version"] == torch.__version__
    assert fields["ai_onnxruntime_version"] == onnxruntime.__version__
    assert int(fields["ai_onnxruntime_memory"]) >= 0
    assert int(fields["ai_onnxruntime_memory_access_num"]) >= 0
    assert fields["ai_onnxruntime_maximum_run_sessions_number"] == "1"


def test_frameworks_and_numpy_run_inside_redis_server(backends_server):
    """numpy's and the frameworks' C extensions need libpython's symbols
    globally visible (STYLE.md fact 1); mapped here means they imported."""
    maps = mapped_files(backends_server)
    for library in ("libtorch_cpu", "onnxruntime_pybind11_state", "_multiarray_umath"):
        assert library in maps
    modules = [pairs(m) for m in backends_server.client().execute_command("MODULE", "LIST")]
    assert [(m[b"name"], m[b"ver"]) for m in modules] == [(b"ai", MODULE_VERSION)]


@pytest.mark.parametrize("backend", ["TORCH", "ONNX", "torch"])
def test_loading_a_loaded_backend_again_fails(backends_server, backend):
    client = backends_server.client()
    assert wire_error(client, "AI.CONFIG", "LOADBACKEND", backend, "x") == \
        "ERR error loading backend: the backend is already loaded"
    assert client.ping()


def test_all_four_backends_load_with_their_versions(server_factory):
    """TensorFlow is the slow import (seconds): the only test that loads it."""
    import ai_edge_litert
    import onnxruntime
    import tensorflow
    import torch
    client = server_factory().client()
    for backend in ("tf", "TFLITE", "TORCH", "ONNX"):
        assert load_backend(client, backend) == b"OK"
    assert info_sections(client)["ai_backends_info"][:4] == [
        ("ai_TensorFlow_version", tensorflow.__version__),
        ("ai_TensorFlowLite_version", ai_edge_litert.__version__),
        ("ai_Torch_version", torch.__version__),
        ("ai_onnxruntime_version", onnxruntime.__version__)]
    for backend in ("TF", "TFLITE"):        # the exact text: test_loading_a_loaded_backend_again_fails
        with pytest.raises(redis.ResponseError):
            load_backend(client, backend)


# --- AI.CONFIG ----------------------------------------------------------------------------------

@pytest.mark.parametrize("args, expected", [
    (["AI.CONFIG"], ARITY.format("AI.CONFIG")),
    (["ai.config"], ARITY.format("ai.config")),
    (["Ai.Config", "LOADBACKEND"], ARITY.format("Ai.Config")),
    (["AI.CONFIG", "LOADBACKEND", "TORCH"], ARITY.format("AI.CONFIG")),
    (["AI.CONFIG", "LOADBACKEND", "XLA", "x"], "ERR unsupported backend"),
    (["AI.CONFIG", "LOADBACKEND", "TORCHSCRIPT", "x"], "ERR unsupported backend"),
    (["AI.CONFIG", "BACKENDSPATH"], "ERR BACKENDSPATH: missing path argument"),
    (["AI.CONFIG", "MODEL_CHUNK_SIZE"], "ERR MODEL_CHUNK_SIZE: missing chunk size"),
    (["AI.CONFIG", "MODEL_CHUNK_SIZE", "0"], "ERR MODEL_CHUNK_SIZE: invalid chunk size"),
    (["AI.CONFIG", "MODEL_CHUNK_SIZE", "-1"], "ERR MODEL_CHUNK_SIZE: invalid chunk size"),
    (["AI.CONFIG", "MODEL_CHUNK_SIZE", "abc"], "ERR MODEL_CHUNK_SIZE: invalid chunk size"),
    (["AI.CONFIG", "MODEL_CHUNK_SIZE", "1.5"], "ERR MODEL_CHUNK_SIZE: invalid chunk size"),
    (["AI.CONFIG", "GET"], ARITY.format("AI.CONFIG")),
    (["AI.CONFIG", "SET", "MODEL_CHUNK_SIZE", "1"], "ERR unsupported subcommand"),
    (["AI.CONFIG", "THREADS_PER_QUEUE", "2"], "ERR unsupported subcommand"),
])
def test_config_errors(r, args, expected):
    assert wire_error(r, *args) == expected
    assert config_get(r, "MODEL_CHUNK_SIZE") == DEFAULT_CHUNK_SIZE     # nothing changed


def test_config_model_chunk_size(r):
    assert r.execute_command("AI.CONFIG", "MODEL_CHUNK_SIZE", 4096) == b"OK"
    assert wire(r, "AI.CONFIG", "GET", "MODEL_CHUNK_SIZE") == 4096      # an integer reply
    assert wire(r, "ai.config", "get", "model_chunk_size") == 4096
    assert r.execute_command("AI.CONFIG", "model_chunk_size", 1) == b"OK"
    assert config_get(r, "MODEL_CHUNK_SIZE") == 1
    assert r.execute_command("AI.CONFIG", "MODEL_CHUNK_SIZE", DEFAULT_CHUNK_SIZE) == b"OK"


def test_config_backendspath(r):
    assert r.execute_command("AI.CONFIG", "BACKENDSPATH", "/tmp/some where") == b"OK"
    assert wire(r, "AI.CONFIG", "GET", "BACKENDSPATH") == b"/tmp/some where"    # a bulk string
    assert r.execute_command("ai.config", "backendspath", str(MODULE.parent / "backends")) == b"OK"
    assert config_get(r, "backendspath") == str(MODULE.parent / "backends").encode()


@pytest.mark.parametrize("name", ["THREADS_PER_QUEUE", "MODEL_EXECUTION_TIMEOUT", "NOPE", "GET"])
def test_config_get_of_other_names_is_null(r, shared_server, name):
    assert wire(r, "AI.CONFIG", "GET", name) is None
    assert shared_server.client(protocol=3).execute_command("AI.CONFIG", "GET", name) is None


def test_config_is_node_local(server_factory):
    """Neither replicated nor persisted."""
    primary = server_factory(name="primary",
                             config=["--repl-diskless-sync-delay", "0", "--save", "900 1"])
    replica = server_factory(name="replica",
                             config=["--replicaof", "127.0.0.1", primary.port])
    replica_client = replica.client()
    deadline = time.monotonic() + 30
    while replica_client.info("replication")["master_link_status"] != "up":
        assert time.monotonic() < deadline, "the replica never synced"
        time.sleep(0.05)
    client = primary.client()
    assert client.execute_command("AI.CONFIG", "MODEL_CHUNK_SIZE", 1234) == b"OK"
    assert client.execute_command("AI.CONFIG", "BACKENDSPATH", "/elsewhere") == b"OK"
    assert client.execute_command("AI.TENSORSET", "t", "INT8", "VALUES", 1) == b"OK"
    assert client.wait(1, 30000) == 1
    assert replica_client.execute_command("AI.TENSORGET", "t", "VALUES") == [1]
    assert config_get(replica_client, "MODEL_CHUNK_SIZE") == DEFAULT_CHUNK_SIZE
    assert config_get(replica_client, "BACKENDSPATH") == str(MODULE.parent / "backends").encode()
    primary.restart(save=True)
    client = primary.client()
    assert client.execute_command("AI.TENSORGET", "t", "VALUES") == [1]
    assert config_get(client, "MODEL_CHUNK_SIZE") == DEFAULT_CHUNK_SIZE
