# syntax=docker/dockerfile:1
# netcanary: built on Node 24 LTS; the image holds the compiled agent and its production
# dependencies only. Build context: .dockerignore admits package*.json, .npmrc, tsconfig.json
# and agent/, nothing else.
#   docker build -t netcanary:dev .

FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY agent ./agent
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="netcanary" \
      org.opencontainers.image.description="Probes from labeled pods and judges every outcome against the cluster's NetworkPolicies" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/node:24-bookworm-slim"
# Pod mode enters pods' network namespaces with nsenter (util-linux, part of every Debian
# base): fail the build, not a pod, if a base image change drops it. npm and corepack are
# build tools: the agent never runs them.
RUN nsenter --version \
    && rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
              /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
              /opt/yarn-* /usr/local/bin/yarn /usr/local/bin/yarnpkg
ENV NODE_ENV=production
# The young generation and old space sized for a small daemon whatever the host; the memory
# figures in docs/benchmarks.md and the DaemonSet's limits are measured with these flags
# (2 MiB semi-spaces: 10-15 MiB less RSS than 8 MiB, CPU the same within the noise; see
# "V8 flags" there).
ENV NODE_OPTIONS="--max-semi-space-size=2 --max-old-space-size=160"
# glibc's allocator: at most two arenas, and a fixed 128 KiB threshold for mapping a block on
# its own and giving free memory back (by default the threshold rises to the largest block
# freed, up to 32 MiB, so the agent's large short-lived buffers stayed in the arenas): in the
# median 12 MiB less RSS after probing and 15 MiB less at the peak, CPU the same
# (docs/benchmarks.md, "Allocator settings"). The agent's own process only: pod mode's
# workers are started with PATH alone.
ENV MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072 MALLOC_TRIM_THRESHOLD_=131072
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# Files stay root-owned and read-only to the agent. The self-only DaemonSet runs as this
# user; the pod-mode variant runs as root with two capabilities (manifests/variants/pod-mode).
USER 65532:65532
EXPOSE 9714
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["--help"]
