#!/usr/bin/env bash
# Starts a throwaway PostgreSQL for the store/postgres tests and tells how
# to reach it.
#
#   eval "$(bash .ci/postgres.sh)"   # start (or reuse), then export the DSN
#   source .ci/postgres.sh           # the same, from a bash script
#   bash .ci/postgres.sh stop        # stop it and delete its data
#
# It installs PostgreSQL with apt-get when no server binaries are found
# (as root on Debian), creates a cluster in $DMDOCTOR_PG_DIR (default
# /tmp/dmdoctor-pg) owned by the postgres user, listening on 127.0.0.1 only
# at $DMDOCTOR_PG_PORT (default 55432) with its socket in /tmp, trusting
# loopback connections of the user dmdoctor, and creates the database
# dmdoctor_test. It prints `export DMDOCTOR_TEST_POSTGRES=...` on stdout
# (everything else goes to stderr) and writes the same line to
# $DMDOCTOR_PG_DIR/env. Running it again while the server runs only prints
# the line, so it is cheap to call from every CI run.

dmdoctor_pg_main() (
	set -euo pipefail
	local dir=${DMDOCTOR_PG_DIR:-/tmp/dmdoctor-pg}
	local port=${DMDOCTOR_PG_PORT:-55432}
	local user=dmdoctor db=dmdoctor_test
	local data=$dir/data log=$dir/server.log
	local url="postgres://$user@127.0.0.1:$port/$db?sslmode=disable"

	log() { echo "postgres.sh: $*" >&2; }

	bindir() {
		local d
		d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
		if [[ -n $d && -x $d/initdb ]]; then
			echo "$d"
		elif command -v initdb >/dev/null 2>&1; then
			dirname "$(command -v initdb)"
		fi
	}

	# as runs a command as the owner of the cluster: postgres when we are
	# root (the server refuses to run as root), else ourselves.
	as() {
		if [[ $(id -u) -eq 0 ]]; then
			if command -v runuser >/dev/null 2>&1; then
				runuser -u postgres -- "$@"
			else
				su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
			fi
		else
			"$@"
		fi
	}

	local bin
	bin=$(bindir)

	if [[ ${1:-} == stop ]]; then
		if [[ -n $bin && -f $data/postmaster.pid ]]; then
			as "$bin/pg_ctl" -D "$data" -m immediate -w stop >&2 || true
		fi
		rm -rf "$dir"
		log "stopped and removed $dir"
		return 0
	fi

	if [[ -z $bin ]]; then
		[[ $(id -u) -eq 0 ]] || { log "PostgreSQL is not installed and we are not root: install it (apt-get install postgresql)"; return 1; }
		log "installing PostgreSQL"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >&2
		apt-get install -y -qq postgresql >&2
		bin=$(bindir)
		[[ -n $bin ]] || { log "no initdb after installing postgresql"; return 1; }
	fi

	if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" && [[ -f $data/postmaster.pid ]]; then
		log "reusing the server on 127.0.0.1:$port ($data)"
	else
		if [[ $(id -u) -eq 0 ]] && ! getent passwd postgres >/dev/null; then
			useradd --system --home-dir "$dir" --shell /bin/sh postgres
		fi
		mkdir -p "$dir"
		[[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
		chmod 700 "$dir"
		if [[ ! -f $data/PG_VERSION ]]; then
			log "creating a cluster in $data with $bin"
			rm -rf "$data"
			as "$bin/initdb" -D "$data" -U "$user" --auth=trust --encoding=UTF8 --locale=C.UTF-8 --no-instructions >/dev/null
			# Loopback only, trusted, socket in /tmp.
			cat <<-EOF | as tee -a "$data/postgresql.conf" >/dev/null
				listen_addresses = '127.0.0.1'
				port = $port
				unix_socket_directories = '/tmp'
				max_connections = 200
			EOF
			printf 'local all all trust\nhost all all 127.0.0.1/32 trust\n' | as tee "$data/pg_hba.conf" >/dev/null
		fi
		log "starting the server on 127.0.0.1:$port"
		as "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 start >&2 || { cat "$log" >&2 || true; return 1; }
	fi

	local i
	for i in $(seq 1 60); do
		"$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U "$user" && break
		sleep 0.5
	done
	"$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -U "$user" || { log "server not ready; see $log"; return 1; }

	if [[ $("$bin/psql" -h 127.0.0.1 -p "$port" -U "$user" -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$db'") != 1 ]]; then
		"$bin/createdb" -h 127.0.0.1 -p "$port" -U "$user" "$db"
	fi

	echo "export DMDOCTOR_TEST_POSTGRES='$url'" | as tee "$dir/env" >/dev/null
	echo "export DMDOCTOR_TEST_POSTGRES='$url'"
)

if [[ ${BASH_SOURCE[0]} != "$0" ]]; then
	# Sourced: export into the caller's shell.
	if dmdoctor_pg_out=$(dmdoctor_pg_main "$@"); then
		eval "$dmdoctor_pg_out"
		unset dmdoctor_pg_out
	else
		unset dmdoctor_pg_out
		return 1
	fi
else
	dmdoctor_pg_main "$@"
fi
