# Stand-in for the official nginx image, from Debian's packages (nginx 1.30 in forky): the scripts in
# /docker-entrypoint.d run and templates in /etc/nginx/templates are rendered at start as the official entrypoint
# does, logs go to the container's output, and wget is there for the compose health check (busybox has it in the
# official alpine image).
# openssl is here so that the balancer's image (loadbalancer/Dockerfile) needs no package index to add it.
ARG BASE
FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx-light gettext-base wget openssl \
 && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/default \
 && ln -sf /dev/stdout /var/log/nginx/access.log \
 && ln -sf /dev/stderr /var/log/nginx/error.log
COPY nginx-entrypoint.sh /docker-entrypoint.sh
RUN mkdir -p /docker-entrypoint.d
ENTRYPOINT ["/docker-entrypoint.sh"]
CMD ["nginx", "-g", "daemon off;"]
# Like the official image: a graceful stop finishes the requests in flight.
STOPSIGNAL SIGQUIT
