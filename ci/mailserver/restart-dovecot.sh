#!/usr/bin/env bash
# Stops Dovecot of the local test mail server and starts it again (Postfix keeps running and
# queues deliveries meanwhile). Tests use it to drop every IMAP connection at once.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/env"
doveadm -c "$OFFRECORD_MAIL_DOVECOT_CONF" stop
for _ in $(seq 1 100); do
    ss -Hltn "sport = :$OFFRECORD_MAIL_IMAP_PORT" | grep -q . || break
    sleep 0.1
done
dovecot -c "$OFFRECORD_MAIL_DOVECOT_CONF" </dev/null >>"$OFFRECORD_MAIL_DIR/log/dovecot.log" 2>&1
for _ in $(seq 1 100); do
    ss -Hltn "sport = :$OFFRECORD_MAIL_IMAP_PORT" | grep -q . && exit 0
    sleep 0.1
done
echo "mailserver: ERROR: dovecot did not come back" >&2
exit 1
