package io.sessionfarm.store;

import java.security.GeneralSecurityException;

/**
 * Encrypts attribute values on their way into the store and decrypts them on the way out; the key
 * id is stored beside each value. Bound to the session's id and the attribute's name, so values
 * cannot be moved between attributes or sessions in the database.
 */
public interface ValueSealer {

    record Sealed(int keyId, byte[] bytes) {
    }

    Sealed seal(String sessionId, String name, byte[] plain) throws GeneralSecurityException;

    /** @throws GeneralSecurityException if the value was altered or its key is not in the ring */
    byte[] open(String sessionId, String name, int keyId, byte[] sealed) throws GeneralSecurityException;
}
