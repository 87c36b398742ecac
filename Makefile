# gdb-memleak: `make demo` runs the main job end to end, `make test` the test suite.
# Both start with `make setup`, which is idempotent.

# The venv uses Debian's python3: the same version as gdb's embedded Python, so
# gdb can import graphviz from it and targets of that version can import guppy3/objgraph.
PYTHON ?= /usr/bin/python3
VENV := .venv
APT_PACKAGES := gdb graphviz python3-venv procps pypy3 chromium
STAMP := $(VENV)/.installed

# uWSGI, an interpreter embedded in a program of another name (tests/test_uwsgi.py):
# built from PyPI against pyenv's 3.11, whose libpython it links (about 60 s on 2 CPUs).
UWSGI_PYTHON ?= /root/.pyenv/versions/3.11.7/bin/python3.11
UWSGI_VERSION := 2.0.31
UWSGI_VENV := .venv-uwsgi
UWSGI_STAMP := $(UWSGI_VENV)/.installed

.PHONY: setup roots demo test bench clean

setup: $(STAMP) roots $(UWSGI_STAMP)

$(STAMP): setup.py
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e '.[test]'
	touch $(STAMP)

# A Debian forky tree (libc 2.43, python3.14 with its debug symbols) for the
# container tests (issue 12): a target chrooted there maps libraries the host's
# gdb would otherwise take its own for. Built once; the stamp makes it idempotent.
# mmdebstrap needs an empty directory, so it builds beside the tree and renames.
ROOTS := .roots
FORKY := $(ROOTS)/forky
FORKY_STAMP := $(ROOTS)/forky.stamp
FORKY_PACKAGES := python3.14,python3.14-dbg
DEBIAN_MIRROR ?= http://deb.debian.org/debian

roots: $(FORKY_STAMP)

# The archive is a frozen snapshot: without Check-Valid-Until false apt refuses its
# expired Release file (mmdebstrap also writes the option into the tree's apt.conf.d).
# Bookworm's debian-archive-keyring holds the keys forky's Release is signed with.
# A half-built tree may still have /proc or /dev mounted in it: never rm -rf then.
$(FORKY_STAMP):
	@command -v mmdebstrap >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap; }
	@if grep -qF " $(CURDIR)/$(ROOTS)/" /proc/self/mounts; then \
		echo "something is mounted under $(CURDIR)/$(ROOTS): unmount it first"; exit 1; fi
	mkdir -p $(ROOTS)
	rm -rf --one-file-system $(FORKY).new
	mmdebstrap --quiet --variant=minbase \
		--aptopt='Acquire::Check-Valid-Until "false"' \
		--keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
		--include=$(FORKY_PACKAGES) \
		forky $(FORKY).new "deb $(DEBIAN_MIRROR) forky main"
	rm -rf --one-file-system $(FORKY)
	mv $(FORKY).new $(FORKY)
	touch $@

# Without that interpreter nothing is built, and the uWSGI tests skip saying so.
$(UWSGI_STAMP):
	@if [ ! -x $(UWSGI_PYTHON) ]; then echo "no $(UWSGI_PYTHON): uWSGI not built"; exit 0; fi; \
	set -e; rm -rf $(UWSGI_VENV); \
	echo "building uWSGI $(UWSGI_VERSION) against $(UWSGI_PYTHON)"; \
	$(UWSGI_PYTHON) -m venv $(UWSGI_VENV); \
	$(UWSGI_VENV)/bin/python -m pip install -q 'uwsgi==$(UWSGI_VERSION)'; \
	touch $(UWSGI_STAMP)

demo: setup
	$(VENV)/bin/python examples/demo.py

test: setup
	$(VENV)/bin/python -m pytest -v tests

# Benchmarks, not part of `make test`: py-heap (issue 4) writes docs/benchmarks.md,
# py-memtop --watch (issue 5) writes docs/benchmarks-watch.md.
# Quick run: make bench BENCH_ARGS='--sizes 100000 --no-write' WATCH_ARGS='--windows 2 --no-write'
bench: $(STAMP)
	$(VENV)/bin/python benchmarks/heap.py $(BENCH_ARGS)
	$(VENV)/bin/python benchmarks/watch.py $(WATCH_ARGS)

clean:
	rm -rf $(VENV) $(UWSGI_VENV) *.egg-info demo-output
	@if grep -qF " $(CURDIR)/$(ROOTS)/" /proc/self/mounts; then \
		echo "something is mounted under $(CURDIR)/$(ROOTS): not removing it"; exit 1; fi
	rm -rf --one-file-system $(ROOTS)
