# netcanary: every target runs on Node.js >= 22. When the system Node is older,
# a pinned Node 24 LTS comes from the npm registry package node-linux-<arch>
# into .tools/ (ignored by git) and goes first on PATH for every target.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

NODE_VERSION := 24.21.0
# The oldest Node the dependencies run on (undici 8, via @kubernetes/client-node: 22.19).
NODE_MIN := 22.19
TOOLS_DIR := $(CURDIR)/.tools
ARCH := $(shell uname -m | sed -e 's/x86_64/x64/' -e 's/aarch64/arm64/')

SYSTEM_NODE := $(shell node -p 'process.versions.node' 2>/dev/null || echo 0.0.0)
ifeq ($(shell printf '%s\n%s\n' "$(NODE_MIN)" "$(SYSTEM_NODE)" | sort -V -C && echo yes),yes)
NODE := $(shell command -v node)
else
NODE := $(TOOLS_DIR)/node/bin/node
export PATH := $(TOOLS_DIR)/node/bin:$(PATH)
endif

# Debian packages the tests drive (binary name=package name).
DEBIAN_TOOLS := prometheus=prometheus promtool=prometheus \
  prometheus-alertmanager=prometheus-alertmanager \
  prometheus-blackbox-exporter=prometheus-blackbox-exporter \
  nft=nftables iptables=iptables dnsmasq=dnsmasq-base ip=iproute2 dig=bind9-dnsutils \
  python3=python3 chromium=chromium

.PHONY: help node deps debian-deps build run test demo bench clean

help:
	@echo "make run     build and start the agent on its built-in standalone configuration"
	@echo "make test    install what is missing, then run the whole test suite"
	@echo "make demo    (root) the agent probing from pods in a network-namespace lab, with sabotage"
	@echo "make bench   run the benchmarks (results go in docs/benchmarks.md by hand)"

node: $(NODE)

$(TOOLS_DIR)/node/bin/node:
	@echo "System Node is $(SYSTEM_NODE) (older than $(NODE_MIN)): fetching Node $(NODE_VERSION) into .tools/"
	@rm -rf $(TOOLS_DIR)/node $(TOOLS_DIR)/pack && mkdir -p $(TOOLS_DIR)/pack $(TOOLS_DIR)/node
	@cd $(TOOLS_DIR)/pack && npm pack --silent node-linux-$(ARCH)@$(NODE_VERSION) >/dev/null
	@tar -xzf $(TOOLS_DIR)/pack/node-linux-$(ARCH)-$(NODE_VERSION).tgz -C $(TOOLS_DIR)/node --strip-components=1
	@rm -rf $(TOOLS_DIR)/pack
	@$@ --version

node_modules/.package-lock.json: package-lock.json $(NODE)
	npm ci --no-audit --no-fund
	@touch $@

deps: node_modules/.package-lock.json

# Installs the Debian packages the tests use when they are missing and we are root.
# Without root the tests that need them skip and say what is missing (fail under CI=true).
debian-deps:
	@missing=""; for pair in $(DEBIAN_TOOLS); do bin=$${pair%%=*}; pkg=$${pair#*=}; \
	  command -v $$bin >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	missing=$$(echo $$missing | tr ' ' '\n' | sort -u | tr '\n' ' '); \
	if [ -z "$${missing// /}" ]; then exit 0; fi; \
	if [ "$$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else \
	  echo "Not installing Debian packages ($$missing): needs root and apt-get; tests that need them will say so."; \
	fi

build: deps
	npm run --silent build

# The agent on its built-in standalone configuration: probes from this machine,
# serves its status page at http://localhost:9714/, /metrics and /api/v1/results. Ctrl-C stops it.
run: build
	$(NODE) dist/cli/main.js agent --listen :9714

test: deps debian-deps build
	$(NODE) scripts/run-tests.mjs

# The pod-mode lab with the agent in it, cycling through sabotage scenarios; serves the
# agent's endpoints on 127.0.0.1:9714, or on a free port if another demo has that one
# (make demo DEMO_PORT=<port> insists on a port). Needs root; Ctrl-C tears it all down.
demo: build
	$(NODE) scripts/demo.ts

# The benchmarks behind docs/benchmarks.md (about 40 minutes; cluster.mts, exposition.mjs,
# worker-cost.mjs and time-to-alert.ts need root, traffic.mjs's kernel part too; zscaler-feed-memory.mjs uses a memory cgroup as root;
# status-page.mjs needs Debian's chromium).
AGENT_NODE_OPTIONS := --max-semi-space-size=2 --max-old-space-size=160
bench: build
	$(NODE) --expose-gc bench/engine.mjs
	$(NODE) --expose-gc bench/traffic-advise.mjs
	$(NODE) bench/probe-cost.mjs --node-options="$(AGENT_NODE_OPTIONS)"
	$(NODE) bench/probe-cost.mjs --check http --node-options="$(AGENT_NODE_OPTIONS)"
	$(NODE) bench/schedule.mjs --node-options="$(AGENT_NODE_OPTIONS)"
	$(NODE) bench/exposition.mjs --memory-limit 256 --node-options="$(AGENT_NODE_OPTIONS)"
	$(NODE) bench/exposition.mjs --edges 5000 --scrapers 1 --scrapes 3 --flood 0 --slow-readers 64 --memory-limit 256 --node-options="$(AGENT_NODE_OPTIONS)"
	$(NODE) bench/zscaler-audit.mjs
	$(NODE) --expose-gc bench/derive.mjs
	$(NODE) bench/zscaler-feed-memory.mjs --node-options="$(AGENT_NODE_OPTIONS)"
	$(NODE) --expose-gc bench/manifest-heap.mjs
	$(NODE) --expose-gc bench/series-heap.mjs
	$(NODE) --experimental-transform-types --no-warnings bench/cluster.mts --memory-limit 256 --node-options="$(AGENT_NODE_OPTIONS)"
	$(NODE) bench/memory-parts.mjs --node-options="$(AGENT_NODE_OPTIONS)"
	$(NODE) bench/worker-cost.mjs
	$(NODE) bench/cli-start.mjs
	$(NODE) --expose-gc bench/traffic.mjs --pods 20 --connections 50
	$(NODE) --expose-gc bench/traffic.mjs --pods 100 --connections 100
	$(NODE) bench/time-to-alert.ts
	$(NODE) bench/status-page.mjs --node-options="$(AGENT_NODE_OPTIONS)"

clean:
	rm -rf dist coverage .cache
