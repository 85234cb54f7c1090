#!/bin/sh
# Installs the real POP3 clients the test suite drives (Debian packages): curl, fetchmail,
# mpop, getmail6, and Perl's Net::POP3 with the modules it needs for STLS and SASL; Dovecot's
# POP3 server (dovecot-pop3d), which the suite probes and compares pop3mock with; Node.js, a
# JDK and Apache Commons Net for the control API's examples; and python3-venv when python3
# cannot make a virtual environment. Does nothing when all are there already.
set -eu
missing=""
for pair in curl:curl fetchmail:fetchmail mpop:mpop getmail:getmail6 perl:perl; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
done
for pair in Net::POP3=perl IO::Socket::SSL=libio-socket-ssl-perl Authen::SASL=libauthen-sasl-perl \
    Digest::HMAC_MD5=libdigest-hmac-perl; do
    perl -M"${pair%%=*}" -e 1 >/dev/null 2>&1 || missing="$missing ${pair#*=}"
done
# Only its binaries are used: the suite runs a private instance with its own config.
[ -x /usr/sbin/dovecot ] && [ -e /usr/lib/dovecot/pop3 ] || missing="$missing dovecot-pop3d"
# The README's command makes a virtual environment next: Debian's python3 needs
# python3-venv (ensurepip) for that.
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing="$missing python3-venv"
# The control API's examples in other languages (examples/admin_node, examples/admin_java):
# Node.js 18 or later, a JDK (java runs a single source file), Apache Commons Net.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v java >/dev/null 2>&1 || missing="$missing default-jdk-headless"
[ -f /usr/share/java/commons-net.jar ] || missing="$missing libcommons-net-java"
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
