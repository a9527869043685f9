package io.sessionfarm.tls;

import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.HashMap;
import java.util.Map;

import javax.crypto.SecretKey;

import io.sessionfarm.keys.Hkdf;

/**
 * The TLS session-ticket keys of one moment: nginx's and OpenSSL's 80-byte layout (a 16-byte name
 * sent in the clear in each ticket, an HMAC-SHA256 key and an AES-256 key), derived from the farm's
 * {@code tls} key ring so that they are never stored themselves. The ring's primary key is
 * <i>current</i> (encrypts); its added key is <i>next</i> and its retiring keys are
 * <i>previous</i> (both only decrypt, and ask the client to take a new ticket).
 */
final class TicketKeys {

    /** The length of a key's name, the first bytes of every ticket (OpenSSL's layout). */
    static final int NAME_BYTES = 16;

    record TicketKey(byte[] name, byte[] hmacKey, byte[] aesKey) {
    }

    private static final SecureRandom RANDOM = new SecureRandom();

    private final TicketKey current;
    private final Map<ByteBuffer, TicketKey> byName;

    private TicketKeys(TicketKey current, Map<ByteBuffer, TicketKey> byName) {
        this.current = current;
        this.byName = byName;
    }

    /** The ring's keys, by id, with the primary's id. */
    static TicketKeys derive(Map<Integer, SecretKey> ring, int primaryId) throws GeneralSecurityException {
        Map<ByteBuffer, TicketKey> byName = new HashMap<>();
        TicketKey current = null;
        for (Map.Entry<Integer, SecretKey> e : ring.entrySet()) {
            TicketKey key = derive(e.getKey(), e.getValue().getEncoded());
            byName.put(ByteBuffer.wrap(key.name()), key);
            if (e.getKey() == primaryId) {
                current = key;
            }
        }
        if (current == null) {
            throw new GeneralSecurityException("the ring has no primary key");
        }
        return new TicketKeys(current, Map.copyOf(byName));
    }

    /**
     * One random key that only this node knows: what a node uses until it has read the farm's ring
     * (its tickets then resume only here, as Tomcat's own do).
     */
    static TicketKeys local() {
        byte[] secret = new byte[32];
        RANDOM.nextBytes(secret);
        try {
            TicketKey key = derive(0, secret);
            return new TicketKeys(key, Map.of(ByteBuffer.wrap(key.name()), key));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    private static TicketKey derive(int id, byte[] secret) throws GeneralSecurityException {
        byte[] name = new byte[NAME_BYTES];
        ByteBuffer.wrap(name).putInt(id); // readable in a packet capture; the rest tells farms apart
        System.arraycopy(Hkdf.expand(secret, "sessionfarm tls ticket name"), 0, name, 4, name.length - 4);
        return new TicketKey(name, Hkdf.expand(secret, "sessionfarm tls ticket hmac"),
                Hkdf.expand(secret, "sessionfarm tls ticket aes"));
    }

    TicketKey current() {
        return current;
    }

    /** The key a ticket names, or null: the ticket is from another farm or expired with its key. */
    TicketKey find(byte[] name) {
        return byName.get(ByteBuffer.wrap(name));
    }

    boolean isCurrent(TicketKey key) {
        return key == current;
    }

    int size() {
        return byName.size();
    }
}
