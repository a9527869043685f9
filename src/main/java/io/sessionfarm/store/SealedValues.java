package io.sessionfarm.store;

import java.security.GeneralSecurityException;
import java.sql.ResultSet;
import java.sql.SQLException;

/**
 * Attribute values at rest: sealed by a {@link ValueSealer} when the farm has a master key,
 * stored as given when it has none. With a sealer, a plain stored value is refused like an altered
 * one: whoever can write the tables must not be able to plant a value the application will read.
 */
final class SealedValues {

    private final ValueSealer sealer;

    SealedValues(ValueSealer sealer) {
        this.sealer = sealer;
    }

    boolean sealing() {
        return sealer != null;
    }

    ValueSealer.Sealed seal(String id, String name, byte[] plain) throws SQLException {
        try {
            return sealer.seal(id, name, plain);
        } catch (GeneralSecurityException e) {
            throw new SQLException("attribute [" + name + "] could not be encrypted: " + e.getMessage(), e);
        }
    }

    /**
     * The plain value of a stored attribute whose key id is in {@code keyIdColumn}; null if it
     * cannot be opened (altered, planted, or sealed under a key this node does not have), which the
     * session treats as an unreadable attribute.
     */
    byte[] opened(String id, String name, byte[] value, ResultSet rs, int keyIdColumn) throws SQLException {
        int keyId = rs.getInt(keyIdColumn);
        boolean plain = rs.wasNull();
        if (plain || sealer == null) {
            return plain && sealer == null ? value : null;
        }
        try {
            return sealer.open(id, name, keyId, value);
        } catch (GeneralSecurityException e) {
            return null;
        }
    }
}
