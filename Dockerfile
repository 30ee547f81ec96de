# syntax=docker/dockerfile:1
# nvmf-emu container image.
#
#   docker build -t nvmf-emu .
#   docker run --rm -p 4420:4420 -p 8009:8009 -p 127.0.0.1:9464:9464 \
#     -e NVMF_EMU_ADVERTISE_ADDRESS=<this host's IP> \
#     -v "$PWD/my-topology.json:/etc/nvmf-emu/config.json:ro" nvmf-emu
#
# Configuration: the topology file at /etc/nvmf-emu/config.json (NVMF_EMU_CONFIG; the image ships
# deploy/config/config.json there, mount your own over it) and the NVMF_EMU_* environment variables.

ARG NODE_IMAGE=node:20-bookworm-slim

# --- build: all dependencies, TypeScript compiled to dist/src
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would run tsc before the sources are copied.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npx tsc -p tsconfig.json
# The CRC32C addon for data digests (x64 only; without it @node-rs/crc32 is used, ~4x slower).
COPY binding.gyp ./
COPY native ./native
RUN mkdir -p build/Release \
 && if [ "$(uname -m)" = x86_64 ]; then \
      apt-get update && apt-get install -y --no-install-recommends python3 make g++ \
      && npm run build:native; \
    fi

# --- runtime: production dependencies only, compiled JavaScript, no compiler, no test tools
FROM ${NODE_IMAGE} AS runtime
# tini as PID 1: forwards SIGTERM to node (graceful shutdown) and reaps zombies.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=dev: no devDependencies. --ignore-scripts: `prepare` runs tsc, which is not installed here
# (the compiled output comes from the build stage).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force
COPY --from=build /src/dist/src ./dist/src
COPY --from=build /src/build/Release ./build/Release
# The status page's files, read at run time from next to package.json (as npm's "files" ships them).
COPY src/http/status-page ./src/http/status-page
COPY deploy/config/config.json /etc/nvmf-emu/config.json

# Admin HTTP (/livez, /readyz, /metrics, /api/v1) on all interfaces so probes and Prometheus reach
# it. Set NVMF_EMU_HTTP_TOKEN to require a bearer token on the API, or publish the port only where
# you trust the network.
ENV NVMF_EMU_CONFIG=/etc/nvmf-emu/config.json \
    NVMF_EMU_HTTP_ADDRESS=0.0.0.0 \
    NVMF_EMU_HTTP_PORT=9464 \
    NVMF_EMU_LOG_LEVEL=info

# The `node` user of the base image, numerically so Kubernetes can check runAsNonRoot.
USER 1000:1000

# 4420 NVMe/TCP I/O, 8009 NVMe/TCP discovery (as in the shipped topology), 9464 admin HTTP.
EXPOSE 4420 8009 9464

# Liveness with node itself (no curl in the image); follows NVMF_EMU_HTTP_PORT.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.NVMF_EMU_HTTP_PORT||9464)+'/livez',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/src/cli/main.js"]
