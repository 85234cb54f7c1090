#!/bin/sh
# Installs the real POP3 clients the test suite drives (Debian packages): curl, fetchmail,
# mpop and getmail6. Does nothing when they are all there already.
set -eu
missing=""
for pair in curl:curl fetchmail:fetchmail mpop:mpop getmail:getmail6; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
else
    echo "install these Debian packages as root, then run again:$missing" >&2
    exit 1
fi
echo "installing:$missing" >&2
$sudo apt-get update -qq
# shellcheck disable=SC2086 # one word per package
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
