package io.sessionfarm.store;

import java.security.GeneralSecurityException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;

/**
 * Attribute values at rest: sealed by a {@link ValueSealer} when the farm has a master key,
 * stored as given when it has none. With a sealer, a plain stored value is refused like an altered
 * one: whoever can write the tables must not be able to plant a value the application will read.
 */
final class SealedValues {

    static final String SELECT_SEALED_ATTRIBUTES = """
            SELECT name, value, key_id FROM sessionfarm_attribute WHERE app = ? AND session_id = ? AND key_id IS NOT NULL""";

    static final String RESEAL_ATTRIBUTE = """
            UPDATE sessionfarm_attribute SET value = ?, key_id = ? WHERE app = ? AND session_id = ? AND name = ?""";

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

    /**
     * Seals the attributes of a session just renamed (in the caller's transaction) again for its
     * new id: sealed values are bound to their session's id. A value that cannot be opened stays
     * as it is, unreadable.
     */
    void resealed(Connection con, String app, String oldId, String newId) throws SQLException {
        try (PreparedStatement read = con.prepareStatement(SELECT_SEALED_ATTRIBUTES);
                PreparedStatement write = con.prepareStatement(RESEAL_ATTRIBUTE)) {
            read.setString(1, app);
            read.setString(2, newId);
            try (ResultSet rs = read.executeQuery()) {
                while (rs.next()) {
                    String name = rs.getString(1);
                    byte[] plain = opened(oldId, name, rs.getBytes(2), rs, 3);
                    if (plain != null) {
                        ValueSealer.Sealed sealed = seal(newId, name, plain);
                        write.setBytes(1, sealed.bytes());
                        write.setInt(2, sealed.keyId());
                        write.setString(3, app);
                        write.setString(4, newId);
                        write.setString(5, name);
                        write.addBatch();
                    }
                }
            }
            write.executeBatch();
        }
    }
}
