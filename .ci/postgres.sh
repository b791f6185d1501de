#!/usr/bin/env bash
# A throwaway PostgreSQL server for the pgstore suite (pbx/journal/pgstore).
#
# Two ways to use it:
#
#   . .ci/postgres.sh              # sourced: start a server, export
#                                  # PBXKIT_TEST_POSTGRES, stop it on EXIT
#   .ci/postgres.sh CMD [ARG...]   # run CMD with PBXKIT_TEST_POSTGRES set,
#                                  # then stop the server; exits with CMD's status
#
# What it does: installs Debian's postgresql package when no server binaries
# are found (apt-get update once, then install; needs root or sudo), creates a
# temporary directory (mktemp -d), runs initdb there as a non-root user (the
# postgres account when run as root: the server refuses to run as root),
# starts the server on a free loopback port (from 55432 up; 127.0.0.1 only,
# unix socket inside the temporary directory), waits for it with pg_isready
# (bounded), creates the role "pbxkit" with a random password and the database
# "pbxkit" it owns, and exports
#
#   PBXKIT_TEST_POSTGRES=postgres://pbxkit:<password>@127.0.0.1:<port>/pbxkit?sslmode=disable
#
# TCP connections use scram-sha-256, so the suite also exercises a real
# password (it is printed masked). The stop function (pbxkit_pg_stop, run on
# EXIT, chained after any EXIT trap the caller already had) stops the server
# and removes the directory.
#
# When PBXKIT_TEST_POSTGRES is already set, nothing is started: that server is
# used. The server runs with fsync=off (a test server: a crash of this machine
# loses nothing anyone needs); set PBXKIT_PG_FSYNC=on to keep fsync, for
# benchmark figures that mean something.

pbxkit_pg_log() { echo "postgres.sh: $*" >&2; }

# pbxkit_pg_bindir prints the directory of initdb/pg_ctl/pg_isready/psql, newest
# Debian version first, then whatever is on PATH.
pbxkit_pg_bindir() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/pg_isready" ] && [ -x "$d/psql" ]; then
			echo "$d"
			return 0
		fi
	done
	if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 &&
		command -v pg_isready >/dev/null 2>&1 && command -v psql >/dev/null 2>&1; then
		dirname "$(command -v initdb)"
		return 0
	fi
	return 1
}

pbxkit_pg_install() {
	local sudo=""
	if [ "$(id -u)" != 0 ]; then
		if command -v sudo >/dev/null 2>&1; then
			sudo="sudo"
		else
			pbxkit_pg_log "PostgreSQL is not installed and this user cannot install it (not root, no sudo)"
			return 1
		fi
	fi
	if ! command -v apt-get >/dev/null 2>&1; then
		pbxkit_pg_log "PostgreSQL is not installed and apt-get is missing: install a PostgreSQL server, or set PBXKIT_TEST_POSTGRES"
		return 1
	fi
	pbxkit_pg_log "installing postgresql from Debian"
	local log
	log=$(mktemp "${TMPDIR:-/tmp}/pbxkit-pg-apt.XXXXXX") || return 1
	if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get update >"$log" 2>&1 ||
		! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql >>"$log" 2>&1; then
		pbxkit_pg_log "installing postgresql failed:"
		tail -n 30 "$log" >&2
		rm -f "$log"
		return 1
	fi
	rm -f "$log"
}

# pbxkit_pg_as runs a command as the server's user: postgres when we are root,
# ourselves otherwise.
pbxkit_pg_as() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# pbxkit_pg_port_busy reports whether something listens on 127.0.0.1:$1.
pbxkit_pg_port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pbxkit_pg_stop() {
	if [ -n "${PBXKIT_PG_DIR:-}" ] && [ -d "$PBXKIT_PG_DIR" ]; then
		if [ -n "${PBXKIT_PG_BIN:-}" ] && [ -f "$PBXKIT_PG_DIR/data/postmaster.pid" ]; then
			pbxkit_pg_as "$PBXKIT_PG_BIN/pg_ctl" -D "$PBXKIT_PG_DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
				pbxkit_pg_as "$PBXKIT_PG_BIN/pg_ctl" -D "$PBXKIT_PG_DIR/data" -m immediate -w -t 10 stop >/dev/null 2>&1 ||
				true
		fi
		rm -rf "$PBXKIT_PG_DIR"
		pbxkit_pg_log "server stopped, $PBXKIT_PG_DIR removed"
	fi
	PBXKIT_PG_DIR=""
	if [ "${PBXKIT_PG_STARTED:-}" = 1 ]; then
		unset PBXKIT_TEST_POSTGRES
		PBXKIT_PG_STARTED=""
	fi
}

pbxkit_pg_start() {
	if [ -n "${PBXKIT_TEST_POSTGRES:-}" ]; then
		pbxkit_pg_log "PBXKIT_TEST_POSTGRES is already set: using that server"
		return 0
	fi
	local bin
	if ! bin=$(pbxkit_pg_bindir); then
		pbxkit_pg_install || return 1
		bin=$(pbxkit_pg_bindir) || {
			pbxkit_pg_log "PostgreSQL installed but initdb/pg_ctl/pg_isready/psql not found"
			return 1
		}
	fi
	if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
		pbxkit_pg_log "running as root and there is no postgres user to run the server as"
		return 1
	fi
	PBXKIT_PG_BIN=$bin
	PBXKIT_PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/pbxkit-pg.XXXXXX") || return 1
	mkdir -p "$PBXKIT_PG_DIR/data" "$PBXKIT_PG_DIR/sock"
	if [ "$(id -u)" = 0 ]; then
		chown -R postgres: "$PBXKIT_PG_DIR"
	fi
	chmod 700 "$PBXKIT_PG_DIR/data"

	local password
	password=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
	printf '%s\n' "$password" >"$PBXKIT_PG_DIR/pwfile"
	if [ "$(id -u)" = 0 ]; then
		chown postgres: "$PBXKIT_PG_DIR/pwfile"
	fi
	chmod 600 "$PBXKIT_PG_DIR/pwfile"

	# The superuser gets the same random password; the role the tests use is
	# created below. --no-sync: nothing here needs to survive a crash.
	if ! pbxkit_pg_as "$bin/initdb" -D "$PBXKIT_PG_DIR/data" -U postgres --pwfile="$PBXKIT_PG_DIR/pwfile" \
		--auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C --no-sync \
		>"$PBXKIT_PG_DIR/initdb.log" 2>&1; then
		pbxkit_pg_log "initdb failed:"
		cat "$PBXKIT_PG_DIR/initdb.log" >&2
		return 1
	fi
	rm -f "$PBXKIT_PG_DIR/pwfile"

	local fsync=${PBXKIT_PG_FSYNC:-off} port="" p tries=0
	for p in $(seq 55432 55531); do
		pbxkit_pg_port_busy "$p" && continue
		tries=$((tries + 1))
		[ "$tries" -gt 10 ] && break
		if pbxkit_pg_as "$bin/pg_ctl" -D "$PBXKIT_PG_DIR/data" -l "$PBXKIT_PG_DIR/server.log" -w -t 30 \
			-o "-c listen_addresses=127.0.0.1 -p $p -k $PBXKIT_PG_DIR/sock -c fsync=$fsync -c max_connections=200" \
			start >/dev/null 2>&1; then
			port=$p
			break
		fi
		# Lost a race for the port, or a real failure: the log says which.
		tail -n 5 "$PBXKIT_PG_DIR/server.log" >&2 2>/dev/null || true
	done
	if [ -z "$port" ]; then
		pbxkit_pg_log "could not start the server; log:"
		cat "$PBXKIT_PG_DIR/server.log" >&2 2>/dev/null || true
		pbxkit_pg_stop
		return 1
	fi

	local deadline=$((SECONDS + 30))
	until "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -t 2; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			pbxkit_pg_log "server on port $port not ready after 30 s; log:"
			cat "$PBXKIT_PG_DIR/server.log" >&2 2>/dev/null || true
			pbxkit_pg_stop
			return 1
		fi
		sleep 0.2
	done

	# Over the unix socket (trust): the role and database the tests use.
	if ! pbxkit_pg_as "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$PBXKIT_PG_DIR/sock" -p "$port" -U postgres -d postgres \
		-c "CREATE ROLE pbxkit LOGIN PASSWORD '$password'" \
		-c "CREATE DATABASE pbxkit OWNER pbxkit" >/dev/null; then
		pbxkit_pg_log "could not create the pbxkit role and database"
		pbxkit_pg_stop
		return 1
	fi

	PBXKIT_PG_STARTED=1
	export PBXKIT_TEST_POSTGRES="postgres://pbxkit:$password@127.0.0.1:$port/pbxkit?sslmode=disable"
	pbxkit_pg_log "PostgreSQL $("$bin/postgres" -V | awk '{print $3}') ready (fsync=$fsync):" \
		"PBXKIT_TEST_POSTGRES=postgres://pbxkit:xxxxx@127.0.0.1:$port/pbxkit?sslmode=disable"
}

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
	# Sourced: start, and stop on EXIT before whatever EXIT trap was there.
	# An interrupted run exits (so the EXIT trap stops the server) unless the
	# caller handles INT and TERM itself.
	pbxkit_pg_prev_trap=""
	if [ -n "$(trap -p EXIT)" ]; then
		eval "pbxkit_pg_prev_trap=\$(set -- $(trap -p EXIT); printf '%s' \"\$3\")"
	fi
	if [ -n "$pbxkit_pg_prev_trap" ]; then
		trap "pbxkit_pg_stop; $pbxkit_pg_prev_trap" EXIT
	else
		trap pbxkit_pg_stop EXIT
	fi
	[ -n "$(trap -p INT)" ] || trap 'exit 130' INT
	[ -n "$(trap -p TERM)" ] || trap 'exit 143' TERM
	pbxkit_pg_start || return 1
else
	set -euo pipefail
	if [ "$#" -eq 0 ]; then
		# Without a command there is nothing to keep the server for.
		pbxkit_pg_log "usage: . .ci/postgres.sh   or   .ci/postgres.sh CMD [ARG...]"
		exit 2
	fi
	trap pbxkit_pg_stop EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	pbxkit_pg_start
	status=0
	"$@" || status=$?
	exit "$status"
fi
