#!/bin/bash
# Healthy when Dovecot greets on the IMAP port: the listener is up and the master is serving.
exec 3<>"/dev/tcp/127.0.0.1/${IMAP_PORT:-143}" || exit 1
IFS= read -r -t 5 greeting <&3 || exit 1
case $greeting in
  "* OK"*) exit 0 ;;
  *) exit 1 ;;
esac
