# syntax=docker/dockerfile:1
# The one Flux-Gate image: `flux-gate api | worker | operator | migrate` (the argument picks the component).
#   docker build -t flux-gate:0.1.0 .
#   docker run --rm flux-gate:0.1.0 --help
# Node 24 LTS (maintained until 2028-04-30; Node 20 reached end of life on 2026-04-30);
# tools/stack/node/image.sh ships the same line for the local node.
ARG NODE_IMAGE=node:24-bookworm-slim

# ---- build: full dev dependencies, TypeScript compile, runtime assets copied into dist/
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/copy-assets.mjs scripts/
COPY cli.ts ./
COPY core core
COPY api api
COPY worker worker
COPY operator operator
RUN npm run build

# ---- production dependencies only, installed apart so no dev tool reaches the runtime image
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# ---- runtime: node, production node_modules, dist/; no npm cache, no sources, no compiler
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    NODE_OPTIONS=--enable-source-maps
WORKDIR /app
# Fixed numeric ids so Kubernetes runAsNonRoot can verify them (the chart runs as 10001:10001).
RUN groupadd --system --gid 10001 fluxgate \
 && useradd --system --uid 10001 --gid fluxgate --no-create-home --shell /usr/sbin/nologin fluxgate
COPY --from=prod-deps --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /src/dist ./dist
COPY --chown=root:root package.json ./
USER 10001:10001
ENTRYPOINT ["node", "dist/cli.js"]
CMD ["--help"]
