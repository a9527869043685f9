package io.sessionfarm.tls;

import static io.sessionfarm.config.Attributes.integer;

import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import io.sessionfarm.store.StoreSettings;

/**
 * The farm TLS connector's own attributes, parsed once at start. A bad value throws
 * {@link IllegalArgumentException} naming the attribute, the value and what is allowed, in the
 * Manager's words, so a typo stops the connector instead of being ignored.
 */
record TlsSettings(
        StoreSettings store,
        String masterKeyFile,
        long ticketKeyRotationSeconds,
        int lookupTimeoutMillis,
        int localCacheSize,
        Set<String> localHosts,
        Set<String> singleUseHosts) {

    static final Set<String> ATTRIBUTES = Stream.concat(StoreSettings.ATTRIBUTES.stream(), Stream.of("masterKeyFile",
            "ticketKeyRotation", "lookupTimeout", "localCacheSize", "localHosts", "singleUseHosts"))
            .collect(Collectors.toUnmodifiableSet());

    /** A small pool per connector: handshakes wait on the store at most lookupTimeout. */
    static final StoreSettings.Defaults STORE_DEFAULTS = new StoreSettings.Defaults(4, 100, "a pool size from 4 to 100",
            2000, false);

    /**
     * @param hostNames the connector's {@code SSLHostConfig} host names, which {@code localHosts}
     *                  and {@code singleUseHosts} must name
     */
    static TlsSettings parse(Map<String, String> raw, Collection<String> hostNames) {
        StoreSettings store = StoreSettings.parse(raw, STORE_DEFAULTS);
        Set<String> local = hosts(raw, "localHosts", hostNames);
        Set<String> singleUse = hosts(raw, "singleUseHosts", hostNames);
        Set<String> both = new TreeSet<>(local);
        both.retainAll(singleUse);
        if (!both.isEmpty()) {
            throw new IllegalArgumentException("hosts " + both + " are in both [localHosts] and [singleUseHosts]:"
                    + " a single-use session is taken from the farm's cache, which a local host does not use");
        }
        return new TlsSettings(
                store,
                raw.get("masterKeyFile"),
                integer(raw, "ticketKeyRotation", 43_200, 60, 604_800,
                        "whole seconds from 60 to 604800 (7 days; 43200, 12 hours, is the default)"),
                integer(raw, "lookupTimeout", 50, 1, 5000, "milliseconds from 1 to 5000"),
                integer(raw, "localCacheSize", 20_000, 0, 10_000_000, "a count from 0 (no local tier) to 10000000"),
                local,
                singleUse);
    }

    private static Set<String> hosts(Map<String, String> raw, String name, Collection<String> hostNames) {
        String value = raw.get(name);
        if (value == null || value.isBlank()) {
            return Set.of();
        }
        Set<String> hosts = Arrays.stream(value.split(",")).map(String::trim).filter(s -> !s.isEmpty())
                .collect(Collectors.toCollection(LinkedHashSet::new));
        for (String host : hosts) {
            if (hostNames.stream().noneMatch(h -> h.equalsIgnoreCase(host))) {
                throw new IllegalArgumentException("attribute [" + name + "] has value [" + value + "]: [" + host
                        + "] is not the hostName of any SSLHostConfig of this connector " + new TreeSet<>(hostNames));
            }
        }
        return hosts.stream().map(h -> h.toLowerCase(Locale.ROOT)).collect(Collectors.toUnmodifiableSet());
    }

    boolean shared(String hostName) {
        return !localHosts.contains(hostName.toLowerCase(Locale.ROOT));
    }

    boolean singleUse(String hostName) {
        return singleUseHosts.contains(hostName.toLowerCase(Locale.ROOT));
    }

    @Override
    public String toString() {
        return store + ", ticketKeyRotation=" + ticketKeyRotationSeconds
                + "s, lookupTimeout=" + lookupTimeoutMillis + "ms, localCacheSize=" + localCacheSize
                + ", localHosts=" + localHosts + ", singleUseHosts=" + singleUseHosts;
    }
}
