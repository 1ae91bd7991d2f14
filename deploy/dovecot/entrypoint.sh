#!/bin/sh
# Starts the demo Dovecot: writes the mailbox's password from the Docker secret into the
# passwd-file that dovecot.conf reads, then runs Dovecot in the foreground.
set -eu
conf=${DOVECOT_CONF:-/etc/dovecot/dovecot.conf}
users=${DOVECOT_USERS:-/etc/dovecot/users}
user=${IMAP_USER:-postmottak}
secret=${IMAP_PASSWORD_FILE:-/run/secrets/imap_password}

# $(...) drops the newline an editor leaves at the end of the file.
password=$(cat "$secret")
case $password in
  '' | *:*)
    echo "dovecot-entrypoint: $secret must hold a non-empty password without ':'" >&2
    exit 1
    ;;
esac
umask 077
printf '%s:{PLAIN}%s\n' "$user" "$password" >"$users"
# Dovecot's auth process runs as the `dovecot` user and must be able to read the file.
if [ "$(id -u)" = 0 ]; then
  chown root:dovecot "$users"
  chmod 0640 "$users"
fi
exec dovecot -F -c "$conf"
