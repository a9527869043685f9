package io.sessionfarm.keys;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;

import javax.crypto.AEADBadTagException;
import javax.crypto.SecretKey;

import io.sessionfarm.store.ValueSealer;

/** AES-GCM under the key ring's primary key; the associated data names the application and the attribute. */
public final class RingSealer implements ValueSealer {

    private final KeyRing ring;
    private final String context;

    public RingSealer(KeyRing ring, String app) {
        this.ring = ring;
        this.context = "sessionfarm attribute v1\u0000" + app + "\u0000";
    }

    @Override
    public Sealed seal(String name, byte[] plain) throws GeneralSecurityException {
        KeyRing.Key key = ring.primary();
        return new Sealed(key.id(), Aead.seal(key.secret(), associated(name), plain));
    }

    @Override
    public byte[] open(String name, int keyId, byte[] sealed) throws GeneralSecurityException {
        SecretKey key = ring.find(keyId);
        if (key == null) {
            throw new AEADBadTagException("key " + keyId + " is not in the ring");
        }
        return Aead.open(key, associated(name), sealed, 0, sealed.length);
    }

    private byte[] associated(String name) {
        return (context + name).getBytes(StandardCharsets.UTF_8);
    }
}
