"""The Docker image (docker/Dockerfile) run as its users run it: a container
started from the image, Redis reached through a published port.

`make test-docker` builds the image and runs this file with
REDISAI_DOCKER_IMAGE naming it and REDISAI_PODMAN the podman command line
(podman with runc: there is no Docker engine here). `make test` does not
collect this directory (pyproject: norecursedirs)."""
import os
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import models  # noqa: E402  (tests/models.py: the model builders and reference runners)
from conftest import free_port  # noqa: E402
from models import tensorget, tensorset  # noqa: E402

IMAGE = os.environ.get("REDISAI_DOCKER_IMAGE")
PODMAN = shlex.split(os.environ.get("REDISAI_PODMAN",
                                    "podman --storage-driver overlay --runtime runc"))
MODULE_PATH = "/usr/lib/redis/modules/redisai.so"
START_TIMEOUT = 120

if not IMAGE:
    pytest.skip("REDISAI_DOCKER_IMAGE is not set: run `make test-docker`",
                allow_module_level=True)

pytestmark = pytest.mark.filterwarnings(r"ignore:`torch\.jit\.:DeprecationWarning")


def podman(*args, check=True, timeout=120):
    proc = subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout}{proc.stderr}")
    return proc.stdout


def limits():
    """ulimits for the container, at or below this process's (podman's own
    defaults are above what this machine allows)."""
    nofile = min(10240, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[0]
    nproc = 4096 if nproc == resource.RLIM_INFINITY else min(4096, nproc)
    return ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", f"nproc={nproc}:{nproc}"]


class Container:
    """One container of the image; `args` follow the image name, as after
    `docker run IMAGE`."""
    count = 0

    def __init__(self, *args):
        Container.count += 1
        self.name = f"redisai-test-{os.getpid()}-{Container.count}"
        self.args = [str(a) for a in args]
        self.port = free_port()
        self.started = False

    def start(self):
        podman("run", "-d", "--name", self.name, *limits(),
               "-p", f"127.0.0.1:{self.port}:6379", IMAGE, *self.args)
        self.started = True
        self.wait_ready()
        return self

    def running(self):
        return podman("inspect", "--format", "{{.State.Running}}", self.name).strip() == "true"

    def logs(self):
        return podman("logs", self.name, check=False)[-4000:]

    def wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if not self.running():
                raise AssertionError(f"the container exited:\n{self.logs()}")
            try:
                if self.client(socket_timeout=5).ping():
                    return
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                    redis.exceptions.BusyLoadingError):
                pass
            time.sleep(0.2)
        raise AssertionError(f"no PING reply in {START_TIMEOUT} s:\n{self.logs()}")

    def client(self, socket_timeout=120):
        return redis.Redis(host="127.0.0.1", port=self.port, protocol=2,
                           socket_timeout=socket_timeout, retry=Retry(NoBackoff(), 0))

    def exec(self, *cmd):
        return podman("exec", self.name, *cmd)

    def remove(self):
        """Stops and removes the container and its anonymous /data volume."""
        if self.started:
            podman("rm", "--force", "--volumes", "--time", "10", self.name, check=False)
            self.started = False


@pytest.fixture(scope="module")
def container():
    """`docker run IMAGE THREADS_PER_QUEUE 2 --maxmemory 1gb`: module arguments,
    then a Redis option."""
    c = Container("THREADS_PER_QUEUE", 2, "--maxmemory", "1gb")
    try:
        yield c.start()
        assert c.running(), f"the container died:\n{c.logs()}"
    finally:
        c.remove()


@pytest.fixture
def r(container):
    client = container.client()
    client.flushall()
    return client


def run_model(r, key, inputs, outputs):
    """Stores the inputs, runs the model, returns the output tensors."""
    names = [f"{key}:in{i}" for i in range(len(inputs))]
    for name, array in zip(names, inputs):
        tensorset(r, name, array)
    out = [f"{key}:{o}" for o in outputs]
    assert r.execute_command("AI.MODELEXECUTE", key, "INPUTS", len(names), *names,
                             "OUTPUTS", len(out), *out) == b"OK"
    return [tensorget(r, name) for name in out]


# ---------------------------------------------------------------- the server

def test_ping(r):
    assert r.ping()
    assert r.info("server")["redis_version"].startswith("7.")


def test_module_list_shows_the_module_and_its_arguments(r):
    modules = [{k.decode(): v for k, v in zip(entry[::2], entry[1::2])}
               for entry in r.execute_command("MODULE", "LIST")]
    assert len(modules) == 1, modules
    assert modules[0]["name"] == b"ai"
    assert modules[0]["path"] == MODULE_PATH.encode()
    assert modules[0]["args"] == [b"THREADS_PER_QUEUE", b"2"]
    assert r.info("modules")["ai_threads_per_queue"] == 2


def test_redis_options_after_the_module_arguments(r):
    assert r.config_get("maxmemory") == {"maxmemory": str(1 << 30)}


def test_configuration_for_clients_from_outside(r):
    """Deliberate: protected mode off (we connect from the host, not from
    inside the container), the data directory /data."""
    assert r.config_get("protected-mode") == {"protected-mode": "no"}
    assert r.config_get("dir") == {"dir": "/data"}


def test_runs_as_the_redis_user(container):
    assert container.exec("id", "-u").strip() == "999"
    assert container.exec("id", "-un").strip() == "redis"


# ---------------------------------------------------------------- tensors

def test_tensorset_tensorget(r):
    assert r.execute_command("AI.TENSORSET", "v", "INT64", 2, 2, "VALUES", 1, 2, 3, 4) == b"OK"
    assert r.execute_command("AI.TENSORGET", "v", "VALUES") == [1, 2, 3, 4]
    array = np.random.default_rng(7).standard_normal((3, 5)).astype(np.float32)
    tensorset(r, "b", array)
    np.testing.assert_array_equal(tensorget(r, "b"), array)
    assert r.execute_command("AI.TENSORGET", "b", "META") == \
        [b"dtype", b"FLOAT", b"shape", [3, 5]]


# ---------------------------------------------------------------- models

@pytest.mark.parametrize("backend, make, run", [
    ("ONNX", models.onnx_mlp, models.onnx_run),
    ("TORCH", models.torch_pair, models.torch_run),
])
def test_model_stored_and_executed(r, backend, make, run):
    """A two-input, two-output model, compared with the framework run here."""
    blob = make()
    assert r.execute_command("AI.MODELSTORE", "m", backend, "CPU", "BLOB", blob) == b"OK"
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    z = rng.standard_normal((5, 3)).astype(np.float32)
    actual = run_model(r, "m", [x, z], ["y", "h"])
    for got, want in zip(actual, run(blob, x, z)):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    info = dict(zip(*[iter(r.execute_command("AI.INFO", "m"))] * 2))
    assert info[b"backend"] == backend.encode() and info[b"calls"] == 1


# ---------------------------------------------------------------- /data

def test_data_persists_in_data_and_nothing_else_is_written(container, r):
    """SAVE writes /data/dump.rdb as the non-root user; a restarted container
    loads it (the model is rebuilt from its blob); the container's own file
    system is unchanged outside /data (a volume), and /data holds nothing but
    the RDB file (no caches of the frameworks: the user's home is /data, and
    ONNX Runtime's telemetry, which the module turns off, would write there and /tmp)."""
    blob = models.onnx_mlp()
    r.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", blob)
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    tensorset(r, "t", array)
    assert r.save()
    assert container.exec("ls", "-A", "/data").split() == ["dump.rdb"]

    podman("restart", "--time", "10", container.name)
    container.wait_ready()
    r = container.client()
    np.testing.assert_array_equal(tensorget(r, "t"), array)
    x = np.ones((2, 4), np.float32)
    z = np.zeros((2, 3), np.float32)
    np.testing.assert_allclose(run_model(r, "m", [x, z], ["y", "h"])[0],
                               models.onnx_run(blob, x, z)[0], rtol=1e-5, atol=1e-6)

    # `podman diff` lists what changed in the container's layer; the runtime's
    # own bind mounts (/etc/hosts and the like) and their mount points aside,
    # nothing may.
    runtime = {"/etc", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/run",
               "/run/.containerenv", "/proc", "/sys", "/dev", "/data"}
    changed = [line.split(None, 1)[1] for line in podman("diff", container.name).splitlines()
               if line.strip()]
    assert [p for p in changed if p not in runtime] == [], changed
    assert container.exec("ls", "-A", "/data").split() == ["dump.rdb"]


# ---------------------------------------------------------------- the whole command

def test_the_whole_command_can_be_replaced():
    """As RedisAI's image allowed: `docker run IMAGE redis-server --loadmodule ...`."""
    c = Container("redis-server", "--protected-mode", "no", "--loadmodule", MODULE_PATH,
                  "THREADS_PER_QUEUE", 3, "INTRA_OP_PARALLELISM", 1)
    try:
        c.start()
        r = c.client()
        [entry] = r.execute_command("MODULE", "LIST")
        entry = dict(zip(entry[::2], entry[1::2]))
        assert entry[b"args"] == [b"THREADS_PER_QUEUE", b"3", b"INTRA_OP_PARALLELISM", b"1"]
        assert r.info("modules")["ai_threads_per_queue"] == 3
        assert r.execute_command("AI.TENSORSET", "t", "FLOAT", 1, "VALUES", 1.5) == b"OK"
        assert r.execute_command("AI.TENSORGET", "t", "VALUES") == [b"1.5"]
    finally:
        c.remove()
