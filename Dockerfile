# syntax=docker/dockerfile:1
# One image for the agent, the collector and the CLI: ENTRYPOINT is
# bin/rstscope, the Helm chart passes `agent` or `collector`.
#
# It cannot be built on the machines rstscope is developed on (no Docker
# daemon, no registry to pull the base from); test/dockerfile.test.ts lints it
# offline and checks that everything it copies exists and is what runs.

# Build: the BPF object, its skeleton and the native loader (clang, bpftool,
# libbpf), then the TypeScript. Node 24 is the current LTS (20 is past its end
# of life); the runtime stage below must use the same major, because chDB's
# native addon is installed here for this Node.
FROM node:24-bookworm-slim AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev make gcc libc6-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src

# `npm install`, not `npm ci`: chdb lists per-platform engine packages of
# which only some are published, and npm ci refuses the lockfile without them
# (npm/cli#8320; scripts/setup.sh says the same). The lockfile still pins
# every version installed. Dependencies first, so code changes reuse the layer.
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund --loglevel=error

# vmlinux.h comes from the build host's /sys/kernel/btf/vmlinux (BuildKit
# mounts sysfs read-only in RUN steps); CO-RE relocations make the object run
# on any kernel with BTF. The skeleton embeds the object in the loader, so the
# loader is the only native file the runtime needs.
COPY bpf/ bpf/
COPY agent/ agent/
RUN make -s -C agent/native

# tsc compiles every root that tsconfig.json includes; test/lab is among them
# because `rstscope lab` (cli/lab-command.ts) runs the lab's namespaces.
COPY tsconfig.json ./
COPY collector/ collector/
COPY proto/ proto/
COPY cli/ cli/
COPY k8s/ k8s/
COPY test/lab/ test/lab/
COPY bench/ bench/
COPY bin/ bin/
RUN npx tsc -p tsconfig.json && npm prune --omit=dev --no-audit --no-fund --loglevel=error

# Runtime: Node, the compiled JavaScript, production modules, the loader and
# the shared libraries it links (ldd build/rstscope-loader: libbpf, libelf, zlib),
# and iproute2: the agent lists the addresses it covers with `ip` (agent/covered-addresses.ts).
FROM node:24-bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends libbpf1 libelf1 zlib1g iproute2 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/rstscope
ENV NODE_ENV=production
# package.json is read at run time: it marks the install root (agent/repo-root.ts,
# which finds build/rstscope-loader from it) and gives the agent's version.
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/build/rstscope-loader ./build/rstscope-loader
COPY --from=build /src/bin/rstscope ./bin/rstscope

# The collector runs as this unprivileged user. The agent cannot: loading BPF
# programs needs CAP_BPF and CAP_PERFMON, so its DaemonSet sets runAsUser 0 and
# adds those capabilities (dropping all others) in its securityContext.
USER 10001:10001
ENTRYPOINT ["/opt/rstscope/bin/rstscope"]
CMD ["--help"]
