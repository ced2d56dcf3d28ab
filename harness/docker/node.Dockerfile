# Stand-in for the official node image: Debian's nodejs and npm (Node 24 in forky), a `node` user of uid 1000, and
# this machine's CA bundle, which npm needs where the registry is reached through TLS inspection. The build context
# is made by standins.ts.
ARG BASE
FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 1000 --user-group --create-home --shell /bin/sh node
COPY ca-certificates.crt /usr/local/share/standin-ca.crt
# For npm (the build's npm ci); the replicas themselves call nothing outside.
ENV NPM_CONFIG_CAFILE=/usr/local/share/standin-ca.crt
CMD ["node"]
