#!/usr/bin/env bash
# Stops the local test mail server started by start.sh (both daemons). Mail and certificates
# stay in the state directory; start.sh starts again from them. Idempotent.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=env
. "$HERE/env"
DIR="$OFFRECORD_MAIL_DIR"

if [ -f "$DIR/postfix/main.cf" ] && postfix -c "$DIR/postfix" status >/dev/null 2>&1; then
    echo "mailserver: stopping postfix"
    postfix -c "$DIR/postfix" stop >/dev/null 2>&1 || true
fi
pid="$(cat "$DIR/run/dovecot/master.pid" 2>/dev/null || true)"
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    echo "mailserver: stopping dovecot"
    doveadm -c "$DIR/dovecot.conf" stop 2>/dev/null || kill "$pid" 2>/dev/null || true
fi
# Wait until the ports are free, so that a following start.sh can bind them.
for _ in $(seq 1 100); do
    if ! ss -Hltn '( sport = :1143 or sport = :1993 or sport = :1587 or sport = :1465 )' | grep -q .; then
        exit 0
    fi
    sleep 0.1
done
echo "mailserver: ERROR: ports still in use after stopping" >&2
ss -Hltnp '( sport = :1143 or sport = :1993 or sport = :1587 or sport = :1465 )' >&2
exit 1
