#!/bin/sh
# The container's entrypoint: brings the database schema up to date, then runs `intake` with the
# container's arguments (`serve` by default). Migrations are idempotent, and concurrent starts on
# one PostgreSQL wait for each other, so every replica may run this on every start.
set -e
intake db upgrade && exec intake "$@"
