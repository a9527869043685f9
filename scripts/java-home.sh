# Sourced by ./farm, ./check, it/bench/run-* and it/run-harness. The build needs a JDK 22 or newer (the TLS part uses the FFM API);
# the JAR it builds runs on Java 17 and newer, and the tests run Tomcat 10.1 nodes on a Java 17.
java_major() { "$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p'; }

# JAVA_HOME: the newest JDK (with javac) in JAVA_HOME or /usr/lib/jvm, if it is 22 or newer.
sessionfarm_java_home() {
  local candidate major best="" best_major=0
  for candidate in "${JAVA_HOME:-}" /usr/lib/jvm/*; do
    [ -n "$candidate" ] && [ -x "$candidate/bin/javac" ] || continue
    major=$(java_major "$candidate")
    if [ -n "$major" ] && [ "$major" -gt "$best_major" ] 2>/dev/null; then
      best="$candidate"
      best_major="$major"
    fi
  done
  if [ "$best_major" -lt 22 ]; then
    echo "sessionfarm builds with a JDK 22 or newer; the newest found in JAVA_HOME or /usr/lib/jvm is ${best:-none}." >&2
    echo "Install one (e.g. Temurin 25) and set JAVA_HOME to it." >&2
    return 1
  fi
  export JAVA_HOME="$best"
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
