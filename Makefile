# gdb-memleak: `make demo` runs the main job end to end, `make test` the test suite.
# Both start with `make setup`, which is idempotent.

# The venv uses Debian's python3: the same version as gdb's embedded Python, so
# gdb can import graphviz from it and targets of that version can import guppy3/objgraph.
PYTHON ?= /usr/bin/python3
VENV := .venv
APT_PACKAGES := gdb binutils graphviz python3-venv procps pypy3 chromium libjemalloc2
STAMP := $(VENV)/.installed

# uWSGI, an interpreter embedded in a program of another name (tests/test_uwsgi.py):
# built from PyPI against pyenv's 3.11, whose libpython it links (about 60 s on 2 CPUs).
UWSGI_PYTHON ?= /root/.pyenv/versions/3.11.7/bin/python3.11
UWSGI_VERSION := 2.0.31
UWSGI_VENV := .venv-uwsgi
UWSGI_STAMP := $(UWSGI_VENV)/.installed

.PHONY: setup roots hosts demo lint test unit layouts bench bench-venv clean

setup: $(STAMP) roots hosts $(UWSGI_STAMP)

$(STAMP): setup.py
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e '.[test]'
	$(VENV)/bin/python -c 'import sys, sysconfig; from gdb_memleak.host.tools import venv_view; venv_view(sys.prefix, sysconfig.get_paths()["purelib"], sys.version_info[:2])'
	touch $(STAMP)

# A Debian forky tree (libc 2.43, python3.14 with its debug symbols) for the
# container tests (issue 12): a target chrooted there maps libraries the host's
# gdb would otherwise take its own for. Built once; the stamp makes it idempotent.
# mmdebstrap needs an empty directory, so it builds beside the tree and renames.
ROOTS := .roots
FORKY := $(ROOTS)/forky
FORKY_STAMP := $(ROOTS)/forky.stamp
BULLSEYE := $(ROOTS)/bullseye
BULLSEYE_STAMP := $(ROOTS)/bullseye.stamp
# 3.14 and 3.15 with their debug builds and gdb helpers (-dbg), pip's wheel (-venv, for
# `prepare`), 3.15's headers (guppy3 has no 3.15 wheel: `prepare` builds it and must
# fail for the real reason), and gdb 18.1 (embedded Python 3.14), which also runs on the host (hosts).
FORKY_PACKAGES := python3.14,python3.14-dbg,python3.14-venv,python3.15,python3.15-dbg,python3.15-venv,python3.15-dev,gdb
FORKY_MATRIX_STAMP := $(ROOTS)/forky-matrix.stamp
DEBIAN_MIRROR ?= http://deb.debian.org/debian

roots: $(FORKY_MATRIX_STAMP) $(BULLSEYE_STAMP)

# Debian 11's python3.9 on glibc 2.31, an older distribution's container: its raise() blocks
# signals around its tgkill (glibc before 2.34), which the pending-call safe point must know.
$(BULLSEYE_STAMP):
	@command -v mmdebstrap >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap; }
	@if grep -qF " $(CURDIR)/$(BULLSEYE)" /proc/self/mounts; then \
		echo "something is mounted under $(CURDIR)/$(BULLSEYE): unmount it first"; exit 1; fi
	mkdir -p $(ROOTS)
	rm -rf --one-file-system $(BULLSEYE).new
	@# Not fatal: once bullseye leaves the archive, its test is skipped, the rest goes on.
	if mmdebstrap --quiet --variant=extract \
		--aptopt='Acquire::Check-Valid-Until "false"' \
		--keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
		--include=python3.9 \
		bullseye $(BULLSEYE).new "deb $(DEBIAN_MIRROR) bullseye main"; then \
		rm -rf --one-file-system $(BULLSEYE) && mv $(BULLSEYE).new $(BULLSEYE) && \
		mkdir -p $(BULLSEYE)/tmp $(BULLSEYE)/proc && \
		chroot $(BULLSEYE) /usr/bin/python3.9 -c 'import sys; print(sys.version.split()[0])' && touch $@; \
	else echo "no bullseye root (its archive is not reachable): test_containers' glibc 2.31 test is skipped"; \
		rm -rf --one-file-system $(BULLSEYE).new; fi

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

# A tree built from an older FORKY_PACKAGES gets what it lacks with apt inside it.  The
# check reruns when the Makefile changes (0.1 s); the stamp moves only when it installed.
comma := ,
$(FORKY_MATRIX_STAMP): $(FORKY_STAMP) Makefile
	@missing=""; for p in $(subst $(comma), ,$(FORKY_PACKAGES)); do \
		dpkg-query --admindir=$(FORKY)/var/lib/dpkg -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing into $(FORKY):$$missing"; \
		chroot $(FORKY) apt-get update -qq && \
		chroot $(FORKY) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing && touch $@; \
	fi
	test -e $@ || touch $@

# The tree's interpreters as ordinary host processes (issue 12): copies patched to load
# the tree's ld.so and libraries (two patchelf calls: one combined call gave a binary
# that segfaults; without --force-rpath _ssl fails), in a usr/bin whose ../lib/pythonX.Y
# leads to the tree's standard library, each with Debian's gdb helper beside it as
# pyenv puts it.  gdb 18.1 (forky) and gdb 16.3 (trixie: its .deb and what it needs,
# extracted without installing) run on the host through their own ld.so: .roots/bin/gdb-18, gdb-16.
HOSTRUN := $(ROOTS)/hostrun
HOSTRUN_STAMP := $(ROOTS)/hostrun.stamp
TRIXIE_GDB := $(ROOTS)/trixie-gdb
TRIXIE_GDB_STAMP := $(ROOTS)/trixie-gdb.stamp
HOST_PYTHONS := python3.14 python3.14d python3.15 python3.15d

hosts: $(HOSTRUN_STAMP) $(TRIXIE_GDB_STAMP)

# gdb VERSION of tree T on the host.  Its ld.so finds the tree's libthread_db, which does
# not match a host target's libpthread; an installed gdb would load the host's, which its
# auto-load safe-path (relative to the tree) declines: allowed by name.
GDB_WRAPPER := '\#!/bin/sh\n\# gdb %s on the host (made by make hosts)\nt=%s\nPYTHONHOME=$$t/usr exec $$t/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 --library-path $$t/usr/lib/x86_64-linux-gnu $$t/usr/bin/gdb --data-directory $$t/usr/share/gdb -iex "add-auto-load-safe-path /usr/lib/x86_64-linux-gnu/libthread_db.so.1" "$$@"\n'

$(HOSTRUN_STAMP): $(FORKY_MATRIX_STAMP)
	@command -v patchelf >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq patchelf; }
	rm -rf $(HOSTRUN)
	mkdir -p $(HOSTRUN)/usr/bin $(HOSTRUN)/usr/lib $(ROOTS)/bin
	ln -s $(CURDIR)/$(FORKY)/usr/include $(HOSTRUN)/usr/include
	set -e; tree=$(CURDIR)/$(FORKY); for exe in $(HOST_PYTHONS); do \
		version=$${exe%d}; version=$${version#python}; \
		test -e $(HOSTRUN)/usr/lib/python$$version || ln -s $$tree/usr/lib/python$$version $(HOSTRUN)/usr/lib/; \
		cp $(FORKY)/usr/bin/$$exe $(HOSTRUN)/usr/bin/$$exe; \
		patchelf --force-rpath --set-rpath $$tree/usr/lib/x86_64-linux-gnu $(HOSTRUN)/usr/bin/$$exe; \
		patchelf --set-interpreter $$tree/lib64/ld-linux-x86-64.so.2 $(HOSTRUN)/usr/bin/$$exe; \
		ln -s $$tree/usr/share/gdb/auto-load/usr/bin/$$exe-gdb.py $(HOSTRUN)/usr/bin/$$exe-gdb.py; \
		$(HOSTRUN)/usr/bin/$$exe -c 'import ssl, sys; print(sys.executable, sys.version.split()[0])'; \
	done
	printf $(GDB_WRAPPER) 18.1 $(CURDIR)/$(FORKY) > $(ROOTS)/bin/gdb-18
	chmod +x $(ROOTS)/bin/gdb-18
	$(ROOTS)/bin/gdb-18 -nx -batch -ex "python import sys; print(gdb.VERSION, sys.version.split()[0])"
	touch $@

$(TRIXIE_GDB_STAMP):
	@if grep -qF " $(CURDIR)/$(TRIXIE_GDB)" /proc/self/mounts; then \
		echo "something is mounted under $(CURDIR)/$(TRIXIE_GDB): unmount it first"; exit 1; fi
	rm -rf --one-file-system $(TRIXIE_GDB).new
	mmdebstrap --quiet --variant=extract \
		--aptopt='Acquire::Check-Valid-Until "false"' \
		--keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
		--include=gdb \
		trixie $(TRIXIE_GDB).new "deb $(DEBIAN_MIRROR) trixie main"
	rm -rf --one-file-system $(TRIXIE_GDB)
	mv $(TRIXIE_GDB).new $(TRIXIE_GDB)
	mkdir -p $(ROOTS)/bin
	printf $(GDB_WRAPPER) 16.3 $(CURDIR)/$(TRIXIE_GDB) > $(ROOTS)/bin/gdb-16
	chmod +x $(ROOTS)/bin/gdb-16
	$(ROOTS)/bin/gdb-16 -nx -batch -ex "python import sys; print(gdb.VERSION, sys.version.split()[0])"
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

# Then the 3.14/3.15, PEP 768 and container tests again under gdb 16 and gdb 18 (issue 12;
# about 1.5 and 2 min here; the whole suite under gdb 18: see docs/versions.md).
MATRIX_TESTS := tests/test_matrix.py tests/test_remote_debug_opt_out.py tests/test_containers.py \
	tests/test_loading.py::test_the_helper_reads_frames_when_the_index_comes_from_the_cache \
	tests/test_loading.py::test_its_hook_attach_leaves_the_user_s_own_and_gdb_s_errors \
	tests/test_keeper.py::test_a_target_its_user_had_stopped_is_left_stopped \
	tests/test_keeper.py::test_gdb_killed_as_it_attaches_leaves_the_target_running
# ruff everywhere (pyproject.toml), mypy on everything but the payloads (they run in the target).
lint: $(STAMP)
	$(VENV)/bin/ruff check gdb_memleak tests benchmarks examples tools
	$(VENV)/bin/mypy

test: setup lint
	$(VENV)/bin/python -m pytest -v tests
	for gdb in gdb-16 gdb-18; do \
		GDB_MEMLEAK_GDB=$(CURDIR)/$(ROOTS)/bin/$$gdb $(VENV)/bin/python -m pytest -v $(MATRIX_TESTS) || exit 1; done

# The layouts py-heap/py-cycles --read-only keep for 3.13+ builds without debug info
# (gdb_memleak/host/layouts/*.json), read from release builds whose debug info a gdb reads;
# tests/test_layout_tables.py fails when one no longer fits its build.
layouts: setup
	$(VENV)/bin/python tools/dump_layout.py /root/.pyenv/versions/3.13.0/bin/python3.13 --source "CPython 3.13.0 (pyenv)"
	for v in 3.14 3.15; do $(VENV)/bin/python tools/dump_layout.py $(ROOTS)/hostrun/usr/bin/python$$v \
		--gdb $(ROOTS)/bin/gdb-18 --source "CPython $$($(ROOTS)/hostrun/usr/bin/python$$v -c 'import platform; print(platform.python_version())') (Debian forky's python$$v)" || exit 1; done

# The unit tier: tests/unit/ and the tests marked unit elsewhere; no gdb, no target, a few seconds.
unit: $(STAMP)
	$(VENV)/bin/python -m pytest -m unit tests

# The tools benchmarks/pauses.py compares with, in a venv of their own on the targets'
# interpreter (memray, guppy3 and objgraph are imported into the target from it); never in
# .venv, and not needed by `make test`. Remade only when BENCH_PACKAGES changes.
BENCH_PYTHON := /root/.pyenv/versions/3.11.7/bin/python3.11
BENCH_VENV := .venv-bench
BENCH_PACKAGES := py-spy==0.4.3 pystack==1.7.2 memray==1.20.0 guppy3==3.1.7 objgraph==3.7.0

bench-venv:
	@if [ "$$(cat $(BENCH_VENV)/.installed 2>/dev/null)" != "$(BENCH_PACKAGES)" ]; then \
		set -e; test -x $(BENCH_PYTHON) || { echo "no $(BENCH_PYTHON): the benchmarks' targets need it"; exit 1; }; \
		echo "making $(BENCH_VENV): $(BENCH_PACKAGES)"; \
		rm -rf $(BENCH_VENV); \
		$(BENCH_PYTHON) -m venv $(BENCH_VENV); \
		$(BENCH_VENV)/bin/python -m pip install -q $(BENCH_PACKAGES); \
		echo "$(BENCH_PACKAGES)" > $(BENCH_VENV)/.installed; \
	fi

# Benchmarks, not part of `make test`: py-heap (issue 4) writes docs/benchmarks.md,
# py-memtop --watch (issue 5) writes docs/benchmarks-watch.md, and how long each command
# stops the target beside plain gdb, py-spy, pystack, memray, guppy and objgraph (issue 13)
# writes docs/benchmarks-pauses.md; what each command adds to the latency of gunicorn's and
# uvicorn's requests under load (issue 13) writes docs/benchmarks-servers.md; py-cycles' peak
# memory against the target's RSS (issue 13) writes docs/benchmarks-cycles.md.
# Quick run: make bench BENCH_ARGS='--sizes 100000 --no-write' WATCH_ARGS='--windows 2 --no-write' \
#                       PAUSES_ARGS='--sizes 0 --repeats 1 --no-write' SERVERS_ARGS='--repeats 1 --no-write' \
#                       CYCLES_ARGS='--sizes 0 --repeats 1 --no-write'
bench: $(STAMP) bench-venv
	$(VENV)/bin/python benchmarks/heap.py $(BENCH_ARGS)
	$(VENV)/bin/python benchmarks/watch.py $(WATCH_ARGS)
	$(VENV)/bin/python benchmarks/pauses.py $(PAUSES_ARGS)
	$(VENV)/bin/python benchmarks/servers.py $(SERVERS_ARGS)
	$(VENV)/bin/python benchmarks/cycles_memory.py $(CYCLES_ARGS)

clean:
	rm -rf $(VENV) $(UWSGI_VENV) $(BENCH_VENV) *.egg-info demo-output
	@if grep -qF " $(CURDIR)/$(ROOTS)/" /proc/self/mounts; then \
		echo "something is mounted under $(CURDIR)/$(ROOTS): not removing it"; exit 1; fi
	rm -rf --one-file-system $(ROOTS)
