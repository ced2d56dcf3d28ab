#!/bin/sh
# HTTPS under compose: nginx reads /etc/nginx/tls/cert.pem and key.pem (the `tls` volume). Mount your own pair
# there for a real certificate. When there is none, or the one made here expires within a day, a self-signed pair
# for localhost is made (EC P-256, 30 days): browsers warn about it, curl wants --cacert or -k.
set -eu
dir=/etc/nginx/tls
mkdir -p "$dir"
if [ -s "$dir/cert.pem" ] && [ -s "$dir/key.pem" ]; then
  # A pair someone mounted is theirs to renew; only ours (marked) is made again.
  [ -e "$dir/.self-signed" ] || exit 0
  openssl x509 -checkend 86400 -noout -in "$dir/cert.pem" >/dev/null && exit 0
fi
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
chmod 644 "$dir/cert.pem"
touch "$dir/.self-signed"
echo "$0: made a self-signed certificate for localhost in $dir, valid 30 days"
