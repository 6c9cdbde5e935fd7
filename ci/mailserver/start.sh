#!/usr/bin/env bash
# Starts the local test mail server: Postfix (submission) and Dovecot (IMAP, LMTP) on 127.0.0.1
# only, configured from the files next to this script. Installs the Debian packages first when
# they are missing. Idempotent: running it again re-renders the configuration, starts what is not
# running and reloads what is. Needs root (no systemd: the daemons are started directly).
# The contract (ports, domain, password) is in ./env and ./README.md.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=env
. "$HERE/env"
DIR="$OFFRECORD_MAIL_DIR"
PACKAGES=(postfix dovecot-core dovecot-imapd dovecot-lmtpd iproute2 openssl)

say() { echo "mailserver: $*"; }
die() { echo "mailserver: ERROR: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (it installs packages and starts Postfix and Dovecot)"

# 1. Packages.
missing=()
for package in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q '^install ok installed$'; then
        missing+=("$package")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    # Keep the packages' own init scripts from starting daemons with the stock configuration
    # (which would listen on all addresses).
    created_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        created_policy=yes
    fi
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
    [ -z "$created_policy" ] || rm -f /usr/sbin/policy-rc.d
fi

# 2. The mailbox owner.
if ! getent passwd vmail >/dev/null; then
    useradd --system --no-create-home --home-dir "$DIR/mail" --shell /usr/sbin/nologin vmail
fi
VMAIL_UID="$(id -u vmail)"
VMAIL_GID="$(id -g vmail)"

# 3. Directories and a test CA with a server certificate for localhost / 127.0.0.1.
mkdir -p "$DIR"/{postfix,postfix-queue,postfix-data,run/dovecot,dovecot-state,log,mail,tls}
chmod 755 "$DIR" "$DIR/run" "$DIR/log"
chown vmail:vmail "$DIR/mail"
chown postfix:postfix "$DIR/postfix-data"
if [ ! -s "$DIR/tls/server.pem" ] || [ ! -s "$DIR/tls/ca.pem" ]; then
    say "generating a test CA and server certificate in $DIR/tls"
    (
        cd "$DIR/tls"
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Offrecord test CA" \
            -keyout ca.key -out ca.pem \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
            2>/dev/null
        openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr \
            2>/dev/null
        printf '%s\n' "basicConstraints=critical,CA:FALSE" \
            "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" \
            "subjectAltName=DNS:localhost,DNS:mail.offrecord.test,IP:127.0.0.1" > server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
            -extfile server.ext -out server.pem 2>/dev/null
        rm -f server.csr server.ext ca.srl
    )
fi
chmod 644 "$DIR/tls/ca.pem" "$DIR/tls/server.pem"
chmod 600 "$DIR/tls/ca.key" "$DIR/tls/server.key"

# 4. Configuration, rendered from the files kept in the repository.
render() {
    sed -e "s|@DIR@|$DIR|g" -e "s|@UID@|$VMAIL_UID|g" -e "s|@GID@|$VMAIL_GID|g" "$1" > "$2"
}
render "$HERE/main.cf" "$DIR/postfix/main.cf"
render "$HERE/master.cf" "$DIR/postfix/master.cf"
cp "$HERE/recipients" "$HERE/recipient_access" "$DIR/postfix/"
render "$HERE/dovecot.conf" "$DIR/dovecot.conf"

DOVEADM=(doveadm -c "$DIR/dovecot.conf")
POSTFIX=(postfix -c "$DIR/postfix")

# 5. Dovecot first (Postfix authenticates and delivers through it).
dovecot_running() {
    local pid
    pid="$(cat "$DIR/run/dovecot/master.pid" 2>/dev/null)" || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}
if dovecot_running; then
    say "dovecot running: reloading"
    "${DOVEADM[@]}" reload </dev/null >>"$DIR/log/dovecot.log" 2>&1
else
    say "starting dovecot"
    dovecot -c "$DIR/dovecot.conf" </dev/null >>"$DIR/log/dovecot.log" 2>&1 || die "dovecot did not start; see $DIR/log/dovecot.log"
fi

if "${POSTFIX[@]}" status >/dev/null 2>&1; then
    say "postfix running: reloading"
    "${POSTFIX[@]}" reload </dev/null >>"$DIR/log/postfix.log" 2>&1
else
    say "starting postfix"
    "${POSTFIX[@]}" start </dev/null >>"$DIR/log/postfix.log" 2>&1 || die "postfix did not start; see $DIR/log/postfix.log"
fi

# 6. Wait for every listener, then check that nothing of ours listens beyond loopback.
for port in "$OFFRECORD_MAIL_IMAP_PORT" "$OFFRECORD_MAIL_IMAPS_PORT" \
    "$OFFRECORD_MAIL_SUBMISSION_PORT" "$OFFRECORD_MAIL_SMTPS_PORT"; do
    for _ in $(seq 1 100); do
        if ss -Hltn "sport = :$port" | grep -q .; then
            break
        fi
        sleep 0.1
    done
    ss -Hltn "sport = :$port" | grep -q . || die "nothing listens on port $port"
done

# Process ids of both daemon trees.
roots=("$(cat "$DIR/run/dovecot/master.pid")" "$(sed -n '1s/ //gp' "$DIR/postfix-queue/pid/master.pid")")
ours=" ${roots[*]} "
changed=yes
while [ -n "$changed" ]; do
    changed=""
    while read -r pid ppid; do
        if [[ "$ours" == *" $ppid "* && "$ours" != *" $pid "* ]]; then
            ours="$ours$pid "
            changed=yes
        fi
    done < <(ps -eo pid=,ppid=)
done
# ss -Hltunp columns: netid state recv-q send-q local-address:port peer process.
bad=""
while read -r line; do
    local_addr="$(awk '{print $5}' <<<"$line")"
    pids="$(grep -o 'pid=[0-9]*' <<<"$line" | cut -d= -f2 || true)"
    for pid in $pids; do
        if [[ "$ours" == *" $pid "* ]]; then
            case "$local_addr" in
                127.*:* | "[::1]":*) ;;
                *) bad="$bad$line"$'\n' ;;
            esac
        fi
    done
done < <(ss -Hltunp)
# Whoever owns them: the usual mail ports must not be open beyond loopback either.
while read -r line; do
    local_addr="$(awk '{print $5}' <<<"$line")"
    case "$local_addr" in
        127.*:* | "[::1]":*) ;;
        *:25 | *:110 | *:143 | *:465 | *:587 | *:993 | *:995 | *:1143 | *:1993 | *:1587 | *:1465) bad="$bad$line"$'\n' ;;
    esac
done < <(ss -Hltunp)
if [ -n "$bad" ]; then
    echo "$bad" >&2
    "$HERE/stop.sh" || true
    die "a mail daemon listens on a non-loopback address (above); stopped"
fi

say "up: IMAP 127.0.0.1:$OFFRECORD_MAIL_IMAP_PORT, IMAPS :$OFFRECORD_MAIL_IMAPS_PORT," \
    "submission :$OFFRECORD_MAIL_SUBMISSION_PORT, SMTPS :$OFFRECORD_MAIL_SMTPS_PORT;" \
    "domain $OFFRECORD_MAIL_DOMAIN, password $OFFRECORD_MAIL_PASSWORD, CA $OFFRECORD_MAIL_CA"
