# redisai: set-up, build, run, test, bench. `make run` and `make test` do all
# set-up themselves on a fresh Debian machine.
#   VARIANT=cpu (default) builds install-cpu/ from .venv (requirements.txt);
#   VARIANT=gpu builds install-gpu/ from .venv-gpu (requirements-gpu.txt).
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
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: setup build run test bench clean

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
	    -C build-dir=build/$(VARIANT) -C cmake.define.REDISAI_VARIANT=$(VARIANT) .

run: build
	redis-server --bind 127.0.0.1 --port $(PORT) --loadmodule $(abspath $(MODULE)) $(MODULE_ARGS)

test: build
	$(PYTHON) -m pytest -q $(PYTEST_ARGS)

bench: build
	$(PYTHON) bench/bench.py --module $(abspath $(MODULE))

clean:
	rm -rf build install-cpu install-gpu
