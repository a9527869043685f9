package io.sessionfarm.keys;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;

import javax.crypto.AEADBadTagException;
import javax.crypto.SecretKey;

import io.sessionfarm.store.ValueSealer;

/**
 * AES-GCM under the key ring's primary key; the associated data names the application, the
 * session and the attribute, so a value copied into another row does not open there.
 */
public final class RingSealer implements ValueSealer {

    private final KeyRing ring;
    private final String context;

    public RingSealer(KeyRing ring, String app) {
        this.ring = ring;
        this.context = "sessionfarm attribute v2\u0000" + app + "\u0000";
    }

    @Override
    public Sealed seal(String sessionId, String name, byte[] plain) throws GeneralSecurityException {
        KeyRing.Key key = ring.sealingKey(1);
        return new Sealed(key.id(), Aead.seal(key.secret(), associated(sessionId, name), plain));
    }

    @Override
    public byte[] open(String sessionId, String name, int keyId, byte[] sealed) throws GeneralSecurityException {
        SecretKey key = ring.find(keyId);
        if (key == null) {
            throw new AEADBadTagException("key " + keyId + " is not in the ring");
        }
        return Aead.open(key, associated(sessionId, name), sealed, 0, sealed.length);
    }

    private byte[] associated(String sessionId, String name) {
        return (context + sessionId + "\u0000" + name).getBytes(StandardCharsets.UTF_8);
    }
}
