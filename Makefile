# burnlink: `make run` and `make test` are all a fresh Debian machine needs.
SWIFT ?= swift
PYTHON ?= python3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# node-tweetnacl: the cipher the browser reveal page gets from the server (run, install, tests).
APT_PACKAGES := libsodium-dev libsqlite3-dev pkg-config sqlite3 tmux node-tweetnacl
# Only the tests need these: PostgreSQL (a throwaway cluster), nginx (the deployment example),
# headless Chromium driven through Selenium, node for Tests/js, systemd-analyze for the unit,
# jq and curl for the CI recipes of docs/ci.md, openssl for the TLS tests' throwaway CA.
TEST_APT_PACKAGES := postgresql nginx chromium chromium-driver nodejs systemd jq curl openssl

# Installs the Debian packages named in $(1) that are missing.
define apt_install
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
endef

PREFIX ?= /usr/local

.PHONY: man install install-web all deps system-deps python-deps test-deps build release run test test-swift test-python \
        test-js test-browser fuzz test-fuzz \
        bench bench-core bench-server bench-burn bench-cli bench-cli-floor bench-cut bench-postgres bench-at-size bench-deps vectors clean

all: build

## Installs what is missing: libsodium-dev from Debian, the Python test packages from PyPI.
deps: system-deps python-deps

system-deps:
	$(call apt_install,$(APT_PACKAGES))

python-deps:
	@$(PYTHON) -c 'import nacl.bindings, pytest, selenium, schemathesis' 2>/dev/null || \
	  PIP_BREAK_SYSTEM_PACKAGES=1 $(PYTHON) -m pip install -q -r Tests/python/requirements.txt

test-deps: system-deps
	$(call apt_install,$(TEST_APT_PACKAGES))

build: system-deps
	$(SWIFT) build

## Release binaries with Swift's runtime linked in: the CLI starts faster (docs/benchmarks.md).
release: system-deps
	$(SWIFT) build -c release --static-swift-stdlib

## Builds in release mode and starts the server on the embedded SQLite default.
run: deps release
	@echo
	@echo "burnlink-server: http://127.0.0.1:8080, data in ./burnlink-data/burnlink.sqlite (Ctrl-C stops it)"
	@echo "  send a first secret from another shell:  echo hunter2 | .build/release/burnlink send"
	@echo "  and open the link it prints:             .build/release/burnlink open"
	@echo "  links open in a browser too: http://127.0.0.1:8080/s/<id>#<key> (docs/browser.md)"
	@echo
	.build/release/burnlink-server

## The whole suite: Swift tests (Swift Testing) on SQLite and PostgreSQL; the Python checks
## (independent decoder, OpenAPI, API fuzzing and crash safety against the real server); the
## page's Argon2id under node; the reveal page in headless Chromium; a short run of each fuzz target.
test: deps test-deps test-swift test-python test-js test-browser test-fuzz test-packaging test-image

## Swift tests beside a throwaway PostgreSQL cluster (removed afterwards): the store
## contract, replica and fault tests run against it, and must (BURNLINK_REQUIRE_POSTGRES).
test-swift: test-deps
	$(SWIFT) build --build-tests
	BURNLINK_REQUIRE_POSTGRES=1 Tests/support/with-postgres.sh $(SWIFT) test --skip-build

test-python:
	$(PYTHON) -m pytest -q Tests/python

## BLAKE2b and Argon2id of Web/argon2id.js against the RFC vectors and libsodium (PyNaCl).
test-js: test-deps python-deps
	node --test Tests/js

## The browser pages in headless Chromium against the real server and CLI (.build/debug),
## on SQLite and, beside a throwaway cluster, on two PostgreSQL replicas.
test-browser: test-deps python-deps
	$(SWIFT) build
	BURNLINK_BUILD_DIR=$(CURDIR)/.build/debug BURNLINK_REQUIRE_POSTGRES=1 \
	  Tests/support/with-postgres.sh $(PYTHON) -m pytest -q Tests/browser

## libFuzzer targets (Fuzz/), built with -sanitize=fuzzer,address in their own scratch folder.
## `make fuzz` runs each for FUZZ_SECONDS; `make test` runs each for FUZZ_SMOKE_SECONDS.
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 5

fuzz: system-deps
	$(PYTHON) Fuzz/run.py --seconds $(FUZZ_SECONDS)

test-fuzz: system-deps
	$(PYTHON) Fuzz/run.py --seconds $(FUZZ_SMOKE_SECONDS) --seed 1

## Every benchmark; results are written up in docs/benchmarks.md.
bench: bench-core bench-server bench-burn bench-cli bench-cli-floor bench-cut bench-postgres bench-at-size

bench-deps: system-deps
	$(call apt_install,wrk redis-server curl hyperfine time postgresql procps)
	@$(PYTHON) -c 'import snappass, gunicorn' 2>/dev/null || PIP_BREAK_SYSTEM_PACKAGES=1 $(PYTHON) -m pip install -q snappass gunicorn

## Server throughput beside SnapPass, and RSS for a 100 MiB secret.
bench-server: bench-deps
	bash Benchmarks/server/run.sh

## Creates/s and p99 while the server overwrites a 1 GiB ciphertext just opened.
bench-burn: bench-deps
	bash Benchmarks/server/burn.sh

## Creates/s and claims/s on SQLite, PostgreSQL with one replica and with two (durable cluster).
bench-postgres: bench-deps
	WITH_POSTGRES_FSYNC=on Tests/support/with-postgres.sh bash Benchmarks/server/postgres.sh

## Creates, claims and sweeps on a store already holding a million secrets (BENCH_SECRETS),
## on SQLite, then on PostgreSQL (durable cluster); docs/scaling.md.
bench-at-size: bench-deps release
	BURNLINK_SERVER=$(CURDIR)/.build/release/burnlink-server bash Benchmarks/server/at-size.sh
	BENCH_STORE=postgres WITH_POSTGRES_FSYNC=on Tests/support/with-postgres.sh \
		env BURNLINK_SERVER=$(CURDIR)/.build/release/burnlink-server bash Benchmarks/server/at-size.sh

## CLI whole-process time beside curl, and 1 GiB end to end.
bench-cli: bench-deps
	bash Benchmarks/cli/run.sh

## A 1 KiB open beside the least a client on its packages does for the same requests, and curl.
bench-cli-floor: bench-deps
	bash Benchmarks/cli/floor.sh

## A 1 GiB open cut at 900 MiB by a proxy: resumed from where it stopped, not restarted.
bench-cut: bench-deps
	bash Benchmarks/cli/cut.sh

## 1 GiB through the streaming envelope in 1 MiB and in 16 KiB pieces, beside raw secretbox.
bench-core: release
	.build/release/burnlink-bench-core 1024 3 1024
	.build/release/burnlink-bench-core 1024 3 16

## Rewrites Tests/Vectors/envelope-*.vector from the catalog in the Swift tests.
vectors:
	BURNLINK_WRITE_VECTORS=1 $(SWIFT) test --filter "vectorsAreUpToDate|requestVectorsAreUpToDate"

## Man pages for burnlink and burnlink-server (swift-argument-parser's generate-manual plugin).
man: system-deps
	mkdir -p .build/man
	$(SWIFT) package --allow-writing-to-directory .build/man generate-manual --output-directory .build/man

## Installs both binaries and their man pages under $(PREFIX).
install: release man install-web
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 .build/release/burnlink .build/release/burnlink-server $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 .build/man/burnlink.1 .build/man/burnlink-server.1 $(DESTDIR)$(PREFIX)/share/man/man1/

## The browser pages beside an installed server ($(PREFIX)/share/burnlink/web, where it looks):
## every page, fragment and asset of Web/, since the server reads the directory as a whole.
install-web:
	install -d $(DESTDIR)$(PREFIX)/share/burnlink/web
	install -m 0644 Web/*.html Web/*.js Web/*.css Web/*.svg $(DESTDIR)$(PREFIX)/share/burnlink/web/

## Packages (docs/packaging.md), written to PACKAGE_DIR: `make deb` builds burnlink_<version>_amd64.deb
## and burnlink-server_<version>_amd64.deb (libsodium from Debian, Depends from dpkg-shlibdeps);
## `make dist` the CLI alone with libsodium linked in, burnlink-<version>-linux-x86_64.tar.gz and
## SHA256SUMS. `make test-packaging` builds both, installs them in scratch roots and runs them.
PACKAGE_DIR ?= $(CURDIR)/.build/packages
PACKAGING_APT_PACKAGES := dpkg-dev binutils man-db lintian init-system-helpers
.PHONY: deb dist test-packaging packaging-deps

packaging-deps: system-deps
	$(call apt_install,$(PACKAGING_APT_PACKAGES))

deb: packaging-deps
	SWIFT=$(SWIFT) packaging/deb/build.sh $(PACKAGE_DIR)

dist: packaging-deps
	SWIFT=$(SWIFT) packaging/dist/build.sh $(PACKAGE_DIR)

test-packaging: deb dist python-deps
	BURNLINK_PACKAGE_DIR=$(PACKAGE_DIR) $(PYTHON) -m pytest -q Tests/packaging

## The server's container image (docs/deploy.md, "Container image"), built by buildah from
## scratch with nothing pulled from a registry: localhost/burnlink-server:<version> (and
## :latest); `make image-archive` also writes it as an OCI archive to IMAGE_ARCHIVE.
## `make test-image` builds it under a name of its own and runs it with podman.
IMAGE_VERSION = $(shell sed -n 's/.*static let current = "\(.*\)".*/\1/p' Sources/BurnlinkProtocol/Version.swift)
IMAGE_ARCHIVE ?= $(CURDIR)/.build/image/burnlink-server-$(IMAGE_VERSION).oci.tar
IMAGE_APT_PACKAGES := podman buildah skopeo runc netavark aardvark-dns iptables ca-certificates binutils
.PHONY: image image-archive image-deps test-image

image-deps: system-deps
	$(call apt_install,$(IMAGE_APT_PACKAGES))

image: image-deps release
	packaging/image/build.sh

image-archive: image-deps release
	mkdir -p $(dir $(IMAGE_ARCHIVE))
	packaging/image/build.sh --archive $(IMAGE_ARCHIVE)

test-image: image-deps test-deps python-deps release
	BURNLINK_BUILD_DIR=$(CURDIR)/.build/release BURNLINK_REQUIRE_POSTGRES=1 \
	  Tests/support/with-postgres.sh $(PYTHON) -m pytest -q Tests/image

clean:
	rm -rf .build
