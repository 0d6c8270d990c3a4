# airlock container image.
#
#   docker build -t airlock .
#   docker run --rm -v airlock-data:/data airlock node dist/cli/main.js init --json   # once: master key, schema, first admin
#   docker run -d -v airlock-data:/data -p 2222:2222 -p 8080:8080 airlock
#
# Data (embedded database, host keys, recordings) lives in the /data volume. Keep the
# master key outside it in production: mount it read-only and set
# AIRLOCK_MASTER_KEY_FILE. For PostgreSQL set AIRLOCK_DATABASE_URL. The web API is
# plain HTTP (airlock warns about that off loopback): put a TLS proxy in front.
# Probes: GET /healthz (alive) and GET /readyz (ready or not; admins read why at
# GET /api/v1/readiness) on port 8080.

# ---- build: dev dependencies, TypeScript, then drop the dev dependencies
FROM node:20-bookworm-slim AS build
# ssh2 builds an optional native crypto binding (faster AES-GCM) when a compiler is there.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the project's own "prepare" script is the build, which needs the
# sources copied below; the dependencies' install scripts run in "npm rebuild".
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
# The native SSH crypto binding must exist: without it ssh2 falls back to JavaScript at half the speed.
RUN npm rebuild --no-audit --no-fund \
 && node -e "process.exit(require('ssh2/lib/protocol/crypto.js').bindingAvailable ? 0 : 1)" \
 && npm run build \
 && npm prune --omit=dev --no-audit --no-fund

# ---- runtime: production dependencies and dist/ only (dist/core/migrations comes with the build)
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    AIRLOCK_DATA_DIR=/data \
    AIRLOCK_HOME=/home/airlock/.airlock \
    AIRLOCK_WEB_LISTEN=0.0.0.0:8080 \
    AIRLOCK_SSH_LISTEN=0.0.0.0:2222
RUN groupadd --system airlock \
 && useradd --system --gid airlock --create-home --home-dir /home/airlock --shell /usr/sbin/nologin airlock \
 && mkdir -p /data \
 && chown airlock:airlock /data \
 && chmod 0700 /data
WORKDIR /app
# Owned by root: the airlock user can run the code but not change it.
COPY --from=build /src/package.json /src/package-lock.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
USER airlock
VOLUME /data
EXPOSE 2222 8080
CMD ["node", "--no-memory-reducer", "dist/cli/main.js", "serve"]
