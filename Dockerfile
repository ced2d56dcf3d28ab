# syntax=docker/dockerfile:1
# The replica image: compiled in one stage, production dependencies in another, and a small non-root runtime.
ARG NODE_IMAGE=node:26-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
# Only what the image runs is compiled: a type error in a test or the benchmark cannot break the image.
COPY tsconfig.json tsconfig.build.json ./
COPY services ./services
RUN npx tsc -p tsconfig.build.json

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE}
ENV NODE_ENV=production PORT=3000
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY --from=build /app/dist/services ./dist/services
COPY services/public ./dist/services/public
USER node
EXPOSE 3000
# Ready = Redis answers and the replica is not shutting down; compose starts nginx only once replicas are ready.
# The check starts a node process: on a busy machine that alone can take seconds, hence the generous bounds.
HEALTHCHECK --interval=5s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:3000/health/ready').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Exec form: the replica is PID 1's only child under `init: true` and gets SIGTERM directly.
CMD ["node", "dist/services/server.js"]
