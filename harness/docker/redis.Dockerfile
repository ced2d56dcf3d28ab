# Stand-in for the official redis image, from Debian's packages (Redis 8.0 in forky): what docker-compose.yml runs
# in it is `sh -c`, redis-server, redis-cli and coreutils.
ARG BASE
FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server redis-tools \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /data
VOLUME /data
CMD ["redis-server"]
