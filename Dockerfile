# Production image for step-gateway (OpenAI-compatible gateway to StepChat).
#   docker build -t step-gateway .
#   docker build --build-arg NODE_IMAGE=node:20-bookworm-slim -t step-gateway .
# Any Debian-based Node >= 20.18 image works as NODE_IMAGE.
ARG NODE_IMAGE=node:22-bookworm-slim

# ---- build: compile TypeScript, then drop devDependencies -------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig*.json ./
COPY src ./src
COPY plugins ./plugins
COPY routes ./routes
COPY schemas ./schemas
RUN npm run build \
 && npm prune --omit=dev \
 && rm -rf node_modules/.cache

# ---- runtime: dist + production node_modules only, non-root -----------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    PORT=8000 \
    HOST=0.0.0.0 \
    DATA_DIR=/app/data
WORKDIR /app
# Official node images already have user "node" (uid 1000). Other Debian-based roots may not:
# create it then (useradd from Debian's passwd package; busybox adduser as a fallback),
# preferring uid/gid 1000 but taking any free id if 1000 is already used.
RUN set -eu; \
    if ! id -u node >/dev/null 2>&1; then \
      if command -v useradd >/dev/null 2>&1; then \
        groupadd --gid 1000 node 2>/dev/null || groupadd node; \
        useradd --uid 1000 --gid node --shell /bin/sh --create-home node 2>/dev/null \
          || useradd --gid node --shell /bin/sh --create-home node; \
      else \
        addgroup -g 1000 node 2>/dev/null || addgroup node; \
        adduser -D -u 1000 -G node -s /bin/sh node 2>/dev/null || adduser -D -G node -s /bin/sh node; \
      fi; \
    fi; \
    mkdir -p /app/data; \
    chown node:node /app/data
# Application files stay root-owned (read-only for the runtime user); only /app/data is writable.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER node
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node runs as PID 1 unless started with --init / compose `init: true`; the app handles SIGTERM
# and SIGINT itself (finishes open requests, then exits), so `docker stop` is graceful either way.
STOPSIGNAL SIGTERM
# --expose-gc: the GC hint while relaying large files; --v8-pool-size=1: one V8 helper thread instead
# of four, less memory and no more CPU on a small (2-core) server (BENCHMARKS.md).
CMD ["node", "--expose-gc", "--v8-pool-size=1", "dist/src/server.js"]
