# Sourced by ./check and ./farm: what the tests and the sample farm need beside a JDK.

# PostgreSQL: SESSIONFARM_TEST_JDBC_URL names one; otherwise the local server at 127.0.0.1:5432,
# started if it is installed and down.
sessionfarm_postgresql() {
  [ -n "${SESSIONFARM_TEST_JDBC_URL:-}" ] && { echo "PostgreSQL: $SESSIONFARM_TEST_JDBC_URL"; return 0; }
  if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    echo "PostgreSQL is not answering on 127.0.0.1:5432; starting the local cluster ..."
    if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    fi
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && break; sleep 1; done
  fi
  pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || {
    echo "no PostgreSQL at 127.0.0.1:5432: install it (apt-get install postgresql) or set SESSIONFARM_TEST_JDBC_URL" >&2
    return 1
  }
  echo "PostgreSQL: 127.0.0.1:5432"
}

# Installs the Debian packages that are missing. Each argument is PACKAGE:WHAT, where WHAT is a
# command on the PATH or an absolute path that the package provides.
sessionfarm_packages() {
  local found=() missing=() spec package what
  for spec in "$@"; do
    package=${spec%%:*}
    what=${spec#*:}
    if { [ "${what#/}" != "$what" ] && [ -e "$what" ]; } || { [ "${what#/}" = "$what" ] && command -v "$what" >/dev/null; }; then
      found+=("$package")
    else
      missing+=("$package")
    fi
  done
  [ ${#found[@]} -eq 0 ] || echo "found: ${found[*]}"
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing from Debian's packages: ${missing[*]} ..."
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null; }; then
    echo "could not install ${missing[*]}: run  sudo apt-get install ${missing[*]}  and try again" >&2
    return 1
  fi
  echo "installed: ${missing[*]}"
}
