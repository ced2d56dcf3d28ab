#!/bin/sh
# The official nginx image's entrypoint, in short: the executable scripts in /docker-entrypoint.d run in order
# before nginx starts (the balancer's image adds one that makes a self-signed certificate; a `.envsh` one is
# sourced, so what it exports reaches the template step); then, as its template step,
# /etc/nginx/templates/NAME.template becomes /etc/nginx/conf.d/NAME with ${VARIABLES} replaced, but only those set
# in the environment, so nginx's own $variables are left alone.
set -eu
for script in /docker-entrypoint.d/*; do
  [ -x "$script" ] || continue
  case "$script" in
    *.envsh) echo "$0: sourcing $script"; . "$script" ;;
    *.sh) echo "$0: running $script"; "$script" ;;
  esac
done
defined=$(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/${\1}/p' | tr '\n' ' ')
for template in /etc/nginx/templates/*.template; do
  [ -f "$template" ] || continue
  target=/etc/nginx/conf.d/$(basename "$template" .template)
  envsubst "$defined" < "$template" > "$target"
  echo "$0: rendered $template to $target"
done
exec "$@"
