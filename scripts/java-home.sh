# Sourced by ./farm, ./check, it/bench/run-* and it/run-harness. The JAR runs on Java 17 and newer;
# a JDK 22 or newer builds all of it, an older one (17 to 21) all but the TLS part, which uses the
# FFM API (its manifest then says so, and the tests that need it are left out).
java_major() { "$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p'; }

# JAVA_HOME: SESSIONFARM_BUILD_JDK if set, else the newest JDK (with javac) in JAVA_HOME or
# /usr/lib/jvm; it must be at least $1 (17 unless a caller needs more). Says what it found.
sessionfarm_java_home() {
  local needed="${1:-17}" candidate major best="" best_major=0 candidates=("${JAVA_HOME:-}" /usr/lib/jvm/*)
  [ -z "${SESSIONFARM_BUILD_JDK:-}" ] || candidates=("$SESSIONFARM_BUILD_JDK")
  for candidate in "${candidates[@]}"; do
    [ -n "$candidate" ] && [ -x "$candidate/bin/javac" ] || continue
    major=$(java_major "$candidate")
    if [ -n "$major" ] && [ "$major" -gt "$best_major" ] 2>/dev/null; then
      best="$candidate"
      best_major="$major"
    fi
  done
  if [ "$best_major" -lt "$needed" ]; then
    echo "this needs a JDK $needed or newer; the newest found in ${SESSIONFARM_BUILD_JDK:-JAVA_HOME or /usr/lib/jvm} is ${best:-none}${best:+ ($best_major)}." >&2
    echo "Install one (Debian: openjdk-17-jdk-headless; 22 or newer, e.g. Temurin 25, builds the TLS part too) and set JAVA_HOME to it." >&2
    return 1
  fi
  export JAVA_HOME="$best"
  if [ "$best_major" -ge 22 ]; then
    echo "JDK $best_major at $JAVA_HOME: builds everything, shared TLS sessions included." >&2
  else
    echo "JDK $best_major at $JAVA_HOME: builds everything but shared TLS sessions (they need a JDK 22 or newer); the TLS tests are left out." >&2
  fi
  # Maven's own libraries use sun.misc.Unsafe; JDK 24+ warns about it on every run.
  [ "$best_major" -lt 24 ] || export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
}

# SESSIONFARM_JDK17: a Java 17 (a JRE will do) for the nodes of the Tomcat 10.1 test cell.
sessionfarm_java17_home() {
  local candidate
  for candidate in "${SESSIONFARM_JDK17:-}" /usr/lib/jvm/*; do
    [ -n "$candidate" ] && [ -x "$candidate/bin/java" ] || continue
    if [ "$(java_major "$candidate")" = 17 ]; then
      export SESSIONFARM_JDK17="$candidate"
      return 0
    fi
  done
  echo "no Java 17 in /usr/lib/jvm for the Tomcat 10.1 cell: apt-get install openjdk-17-jre-headless" >&2
  return 1
}
