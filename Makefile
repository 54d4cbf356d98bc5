# redisai: set-up, build, run, test, bench. `make run` and `make test` do all
# set-up themselves on a fresh Debian machine.
#   VARIANT=cpu (default) builds install-cpu/ from .venv (requirements.txt);
#   VARIANT=gpu builds install-gpu/ from .venv-gpu (requirements-gpu.txt);
#   VARIANT=asan builds install-asan/ from .venv with AddressSanitizer (make test-asan).
VARIANT ?= cpu
ifeq ($(VARIANT),gpu)
VENV := .venv-gpu
REQUIREMENTS := requirements-gpu.txt
else
VENV := .venv
REQUIREMENTS := requirements.txt
endif
INSTALL := install-$(VARIANT)
PYTHON := $(VENV)/bin/python
MODULE := $(INSTALL)/redisai.so
PORT ?= 6379
MODULE_ARGS ?=
ASAN := $(if $(filter asan,$(VARIANT)),ON,OFF)
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: setup build run test test-cluster test-asan examples bench bench-quick clean

setup: $(VENV)/.installed /usr/bin/redis-server

/usr/bin/redis-server:
	$(SUDO) apt-get update -q
	$(SUDO) apt-get install -y -q redis-server redis-tools

$(VENV)/.installed: $(REQUIREMENTS)
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q -r $(REQUIREMENTS)
	touch $@

build: setup
	$(PYTHON) -m pip install -q --no-build-isolation --no-deps --upgrade --target $(INSTALL) \
	    -C build-dir=build/$(VARIANT) -C cmake.define.REDISAI_VARIANT=$(VARIANT) \
	    -C cmake.define.REDISAI_ASAN=$(ASAN) .

run: build
	redis-server --bind 127.0.0.1 --port $(PORT) --loadmodule $(abspath $(MODULE)) $(MODULE_ARGS)

test: build
	$(PYTHON) -m pytest -q $(PYTEST_ARGS)

# tests/cluster: a Redis Cluster of six nodes with the module (README "Redis Cluster")
test-cluster: build
	$(PYTHON) -m pytest -q tests/cluster $(PYTEST_ARGS)

# the core test files against the module built with AddressSanitizer: fails on
# any invalid access, or any leak tests/asan/lsan.supp does not name (README "Sanitizers")
ASAN_TESTS := $(addprefix tests/test_,tensor.py modelstore.py modelexecute.py scripts.py dag.py \
    batching.py persistence.py model_persistence.py module.py backend_errors.py model_info.py)
test-asan:
	$(MAKE) build VARIANT=asan
	tests/asan/run.sh $(PYTHON) $(ASAN_TESTS) $(PYTEST_ARGS)

# every example in examples/ against a server of its own (README "Quick start")
examples: build $(VENV)/.examples
	examples/run.sh $(abspath $(MODULE)) $(abspath $(PYTHON))

$(VENV)/.examples: examples/requirements.txt $(VENV)/.installed
	$(PYTHON) -m pip install -q --no-deps -r examples/requirements.txt
	touch $@

# bench/README.md: what each row measures; writes bench/results/latest.{md,json,png}
bench: build
	$(PYTHON) bench/bench.py --module $(abspath $(MODULE))

# shorter rows, fewer of them; writes bench/results/quick.{md,json,png}
bench-quick: build
	$(PYTHON) bench/bench.py --module $(abspath $(MODULE)) --quick

clean:
	rm -rf build install-cpu install-gpu install-asan

# ---------------------------------------------------------------- Docker image
# docker/Dockerfile, built and run without a Docker engine: buildah builds it
# (on a Debian base that docker/make-base.sh makes with debootstrap, unless
# DOCKER_BASE names another), podman with runc runs it; both on the overlay
# storage driver. The CPU torch wheel comes from this machine's pip (copied into
# docker/wheels/), else from PyTorch's CPU index; this machine's CA bundle is
# passed as the build secret ca-bundle. README "Docker".
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml 2>/dev/null)
TORCH_VERSION := $(shell sed -n 's/^torch==//p' requirements.txt)
IMAGE ?= redisai:$(VERSION)-$(VARIANT)
LOCAL_BASE := localhost/redisai-base:bookworm
DOCKER_BASE ?= $(LOCAL_BASE)
CA_BUNDLE ?= /etc/ssl/certs/ca-certificates.crt
BUILDAH := $(SUDO) buildah --storage-driver overlay
PODMAN := $(SUDO) podman --storage-driver overlay --runtime runc
.PHONY: docker test-docker docker-base docker-clean

BUD := nice -n 10 $(BUILDAH) bud --isolation chroot --layers --force-rm --pull=false \
    -f docker/Dockerfile --build-arg BASE=$(DOCKER_BASE) --build-arg VARIANT=$(VARIANT)

/usr/bin/buildah /usr/bin/podman /usr/sbin/runc /usr/sbin/debootstrap &:
	$(SUDO) apt-get update -q
	$(SUDO) apt-get install -y -q buildah podman runc debootstrap

docker-base: /usr/bin/buildah /usr/sbin/debootstrap
	$(BUILDAH) inspect --type image $(LOCAL_BASE) >/dev/null 2>&1 || \
	    nice -n 10 $(SUDO) sh docker/make-base.sh $(LOCAL_BASE) $(BUILDAH)

# The build stage is tagged $(IMAGE)-build so that the layer cache survives the
# pruning of images left untagged by earlier builds.
docker: /usr/bin/buildah $(if $(filter $(LOCAL_BASE),$(DOCKER_BASE)),docker-base)
	@set -e; args=; \
	if [ -s "$(CA_BUNDLE)" ]; then args="--secret id=ca-bundle,src=$(CA_BUNDLE)"; fi; \
	if [ "$(VARIANT)" = cpu ]; then \
	    if python3 -m pip download -q --no-deps --only-binary :all: --python-version 3.11 \
	            --dest docker/wheels "torch==$(TORCH_VERSION)+cpu" 2>/dev/null; then \
	        args="$$args --build-arg TORCH_INDEX_URL="; \
	    else echo "torch $(TORCH_VERSION)+cpu: not found by this machine's pip; the build uses PyTorch's CPU index"; fi; \
	fi; \
	set -x; \
	$(BUD) $$args --target build -t $(IMAGE)-build .; \
	$(BUD) $$args -t $(IMAGE) .
	$(PODMAN) image prune -f >/dev/null

test-docker: docker setup
	REDISAI_DOCKER_IMAGE=$(IMAGE) REDISAI_PODMAN="$(PODMAN)" \
	    $(PYTHON) -m pytest -q -p no:cacheprovider tests/docker/test_image.py $(PYTEST_ARGS)

# Removes every redisai image (all variants, the build stages, the base), the
# layer cache and any container a test run left behind.
docker-clean:
	-$(PODMAN) ps -aq --filter name=redisai-test- | xargs -r $(PODMAN) rm --force --volumes
	-$(BUILDAH) images -q --filter reference='*redisai*' | xargs -r $(BUILDAH) rmi --force
	-$(PODMAN) image prune -f >/dev/null
