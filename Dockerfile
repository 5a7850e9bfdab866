# syntax=docker/dockerfile:1
# netcanary: build on Node 24 LTS, ship only the compiled agent and production dependencies.

FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY agent ./agent
RUN npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="netcanary" \
      org.opencontainers.image.description="Probes from labeled pods and judges every outcome against the cluster's NetworkPolicies" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production
# The young generation and old space sized for a small daemon whatever the host (docs/benchmarks.md).
ENV NODE_OPTIONS="--max-semi-space-size=8 --max-old-space-size=160"
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
USER 65532:65532
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["--help"]
