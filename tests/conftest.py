"""Fixtures: real redis-server processes with the module loaded, on free
loopback ports, started and stopped by the tests, talked to with redis-py;
and the models the tests store on them (built by tests/models.py, which also
holds the helpers: store, modelexecute, tensorset, tensorget, info, ...)."""
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

import models

ROOT = Path(__file__).resolve().parent.parent
MODULE = Path(os.environ.get("REDISAI_MODULE", ROOT / "install-cpu" / "redisai.so")).resolve()
# REDISAI_REDIS_SERVER: a wrapper such as tests/asan/redis-server (make test-asan).
REDIS_SERVER = (os.environ.get("REDISAI_REDIS_SERVER") or shutil.which("redis-server")
                or "/usr/bin/redis-server")


WAIT_TIMEOUT = 60


def wait_until(predicate, what, timeout=WAIT_TIMEOUT, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def wait_info(client, section, **fields):
    """Polls INFO <section> until every field has the given value."""
    def reached():
        info = client.info(section)
        return info if all(info.get(k) == v for k, v in fields.items()) else None
    try:
        return wait_until(reached, f"INFO {section} {fields}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {client.info(section)}") from None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One redis-server in its own directory. `config` are extra server
    options ("--name", "value", ...); `module_args` follow the module path
    (`module`, by default the build's redisai.so)."""

    def __init__(self, workdir, module_args=(), config=(), load_module=True, module=MODULE):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.module_args = [str(a) for a in module_args]
        self.config = [str(c) for c in config]
        self.load_module = load_module
        self.module = module
        self.port = None
        self.proc = None

    @property
    def logfile(self):
        return self.dir / "redis.log"

    def log(self):
        return self.logfile.read_text(errors="replace") if self.logfile.exists() else ""

    def command_line(self):
        cmd = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
               "--dir", str(self.dir), "--logfile", str(self.logfile),
               "--save", "", "--appendonly", "no", "--enable-debug-command", "yes",
               *self.config]
        if self.load_module:
            cmd += ["--loadmodule", str(self.module), *self.module_args]
        return cmd

    def start(self, expect_failure=False, timeout=30):
        self.port = self.port or free_port()
        self.proc = subprocess.Popen(self.command_line(), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if expect_failure:
                    return self.proc.returncode
                raise RuntimeError(f"redis-server exited ({self.proc.returncode}):\n{self.log()[-3000:]}")
            try:
                if self.client().ping():
                    if expect_failure:
                        raise RuntimeError("redis-server started but was expected to fail")
                    return 0
            except redis.exceptions.BusyLoadingError:
                pass
            except redis.exceptions.ConnectionError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"redis-server did not answer in {timeout}s:\n{self.log()[-3000:]}")

    def client(self, **kwargs):
        # RESP2 unless a test asks for RESP3: RedisAI clients speak RESP2. No
        # retries: a dropped connection must fail the test, not be papered over.
        kwargs.setdefault("protocol", 2)
        kwargs.setdefault("retry", Retry(NoBackoff(), 0))
        kwargs.setdefault("socket_timeout", 60)
        return redis.Redis(host="127.0.0.1", port=self.port, **kwargs)

    def stop(self, save=False, timeout=60):
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.client().shutdown(save=save, nosave=not save)
        except redis.exceptions.ConnectionError:
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"redis-server did not shut down:\n{self.log()[-3000:]}")

    def restart(self, save=False):
        self.stop(save=save)
        self.start()


@pytest.fixture
def server_factory(tmp_path):
    """Makes servers in fresh directories; every one is stopped at teardown."""
    servers = []

    def make(module_args=(), config=(), load_module=True, start=True, name=None, module=MODULE):
        server = Server(tmp_path / (name or f"server{len(servers)}"), module_args, config,
                        load_module, module)
        servers.append(server)
        if start:
            server.start()
        return server

    yield make
    # SHUTDOWN, not SIGKILL: LeakSanitizer checks a server only as it exits (make test-asan).
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory):
    """One server per test module; `r` flushes it before each test."""
    server = Server(tmp_path_factory.mktemp("shared"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def r(shared_server):
    client = shared_server.client()
    client.flushall()
    yield client
    assert shared_server.proc.poll() is None, f"server died:\n{shared_server.log()[-3000:]}"


# ---------------------------------------------------------------- models

@pytest.fixture(scope="session")
def blobs():
    """Model blobs by tests/models.py builder name, built once: blobs("torch_pair")."""
    return models.Blobs()


@pytest.fixture
def mlp(r, blobs):
    """The ONNX MLP at `m`, its inputs at `x` and `z` (batch of 5); returns the input arrays."""
    assert models.store(r, "m", "ONNX", blobs("onnx_mlp")) == b"OK"
    arrays = models.mlp_inputs(np.random.default_rng(3))
    models.tensorset(r, "x", arrays[0])
    models.tensorset(r, "z", arrays[1])
    return arrays


@pytest.fixture
def chunk_size(r):
    """chunk_size(n) sets AI.CONFIG MODEL_CHUNK_SIZE n; the default is restored after the test."""
    def set_size(size):
        assert r.execute_command("AI.CONFIG", "MODEL_CHUNK_SIZE", size) == b"OK"
    yield set_size
    set_size(models.DEFAULT_CHUNK_SIZE)


@pytest.fixture
def slow(r, blobs):
    """The slow TorchScript model at `slow`: slow.run(client, ms) keeps the CPU queue busy ~ms."""
    return models.Slow(r, blobs)
