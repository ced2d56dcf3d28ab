# Stand-in for the official node image: this machine's node and npm, a `node` user of uid 1000, and this machine's
# CA bundle, which npm needs where the registry is reached through TLS inspection. The build context is made by
# standins.ts.
ARG BASE
FROM ${BASE}
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
COPY ca-certificates.crt /usr/local/share/standin-ca.crt
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && useradd --uid 1000 --user-group --create-home --shell /bin/sh node
# For npm (the build's npm ci); the replicas themselves call nothing outside.
ENV NPM_CONFIG_CAFILE=/usr/local/share/standin-ca.crt
CMD ["node"]
