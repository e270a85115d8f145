# What scripts/services and scripts/dev share: messages, waiting, and installing a Debian
# package without starting its service. Sourced, never run; the sourcing script sets `me` (its
# name in messages) and `timeout_s` (how long wait_for waits) first.

export DEBIAN_FRONTEND=noninteractive

log() { printf '%s: %s\n' "$me" "$*" >&2; }
die() { printf '%s: ERROR: %s\n' "$me" "$*" >&2; exit 1; }

# port_open PORT: true when something accepts a TCP connection on 127.0.0.1:PORT.
port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# wait_for NAME CHECK...: runs CHECK until it succeeds, for at most $timeout_s seconds.
wait_for() {
  local name="$1"
  shift
  local deadline=$((SECONDS + timeout_s))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      die "$name did not answer within ${timeout_s}s (check: $*)"
    fi
    sleep 1
  done
  log "$name is up"
}

apt_updated=
# apt_install PACKAGE: installs a Debian package. Services must not start from the package scripts
# (there is no init system here, and we start them our own way), hence a policy-rc.d that says
# no while apt runs, unless the machine already has one.
apt_install() {
  local pkg="$1"
  [[ $(id -u) -eq 0 ]] || die "$pkg is not installed, and installing it needs root"
  command -v apt-get >/dev/null || die "$pkg is not installed, and there is no apt-get to install it"
  local policy=/usr/sbin/policy-rc.d own_policy=
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=1
  fi
  if [[ -z $apt_updated ]]; then
    log "apt-get update"
    if ! apt-get update -qq </dev/null; then
      [[ -z $own_policy ]] || rm -f "$policy"
      die "apt-get update failed"
    fi
    apt_updated=1
  fi
  log "installing $pkg"
  local rc=0
  apt-get install -y -qq --no-install-recommends "$pkg" </dev/null || rc=$?
  [[ -z $own_policy ]] || rm -f "$policy"
  ((rc == 0)) || die "apt-get install $pkg failed (exit $rc)"
}

# ensure_postgres_programs: initdb, pg_ctl, psql and pg_isready, the postgres user to run a
# cluster as, and runuser to become it. It starts nothing and touches no cluster's configuration.
ensure_postgres_programs() {
  if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && ! command -v initdb >/dev/null ||
    ! command -v pg_isready >/dev/null || ! command -v psql >/dev/null; then
    apt_install postgresql
  fi
  command -v runuser >/dev/null || apt_install util-linux
  if [[ $(id -u) -eq 0 ]]; then
    id -u postgres >/dev/null 2>&1 || die "there is no postgres user to run a private PostgreSQL cluster as"
  fi
}
