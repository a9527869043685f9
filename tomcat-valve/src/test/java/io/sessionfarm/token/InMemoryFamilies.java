package io.sessionfarm.token;

import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

import io.sessionfarm.token.TokenStore.Family;

/**
 * Token families in memory, with the conditions of {@link TokenStore}'s statements (compare-and-set
 * on the token id and the session, the due and timeout conditions of a rotation) and a database
 * clock the test moves by hand.
 */
final class InMemoryFamilies implements FamilyStore {

    /** One family's row; tests change it directly to play another node or someone who writes the table. */
    static final class Row {
        String sessionId;
        byte[] tokenId;
        long generation;
        long issuedAt;
        byte[] previousTokenId;
        long previousUntil;
        long createdAt;
        long currentUsedAt;
        byte[] olderTokenId;
        long olderUntil;
    }

    /** The database's clock. */
    long now = System.currentTimeMillis();
    /** The stamp of the families' session row, read with each family; null: no row. */
    io.sessionfarm.store.StoredSession.Stamp sessionStamp;
    final Map<String, Row> rows = new HashMap<>();
    final List<String> revokedSessions = new ArrayList<>();
    /** Runs once, just before the next rotation: another node's request that gets there first. */
    Runnable beforeRotate;

    Row row(byte[] family) {
        return rows.get(HexFormat.of().formatHex(family));
    }

    /** A family whose current token was issued {@code ageMillis} ago, in a family made {@code familyAgeMillis} ago. */
    Family add(byte[] family, String sessionId, byte[] tokenId, long ageMillis, long familyAgeMillis) {
        Row row = new Row();
        row.sessionId = sessionId;
        row.tokenId = tokenId;
        row.issuedAt = now - ageMillis;
        row.createdAt = now - familyAgeMillis;
        rows.put(HexFormat.of().formatHex(family), row);
        return snapshot(family, row);
    }

    @Override
    public Family read(String sessionId, byte[] family) {
        Row row = row(family);
        return row == null || !row.sessionId.equals(sessionId) ? null : snapshot(family, row);
    }

    @Override
    public Family create(byte[] family, String sessionId, byte[] tokenId, long createdAt) throws SQLException {
        if (row(family) != null) {
            throw new SQLException("duplicate key value violates unique constraint", "23505");
        }
        Row row = new Row();
        row.sessionId = sessionId;
        row.tokenId = tokenId;
        row.issuedAt = now;
        row.createdAt = createdAt > 0 ? createdAt : now;
        rows.put(HexFormat.of().formatHex(family), row);
        return snapshot(family, row);
    }

    @Override
    public Family rotate(byte[] family, byte[] expected, String sessionId, byte[] next, long graceMillis) {
        if (beforeRotate != null) {
            Runnable other = beforeRotate;
            beforeRotate = null;
            other.run();
        }
        Row row = row(family);
        if (row == null || !Arrays.equals(row.tokenId, expected) || !row.sessionId.equals(sessionId)) {
            return null;
        }
        boolean inGrace = row.previousTokenId != null && row.previousUntil >= now;
        row.olderTokenId = inGrace ? row.previousTokenId : null;
        row.olderUntil = inGrace ? row.previousUntil : 0;
        row.previousTokenId = row.tokenId;
        row.previousUntil = now + graceMillis;
        row.tokenId = next;
        row.generation++;
        row.issuedAt = now;
        row.currentUsedAt = 0;
        return snapshot(family, row);
    }

    @Override
    public Family rotateIfDue(byte[] family, byte[] expected, String sessionId, byte[] next, long graceMillis,
            long rotateAfterMillis, long idleMillis, long absoluteMillis) {
        Row row = row(family);
        if (row == null || !row.sessionId.equals(sessionId) || row.issuedAt > now - rotateAfterMillis || row.issuedAt < now - idleMillis
                || row.createdAt < now - absoluteMillis || row.previousUntil >= now) {
            return null;
        }
        return rotate(family, expected, sessionId, next, graceMillis);
    }

    @Override
    public void firstUse(String sessionId, byte[] family, byte[] tokenId) {
        Row row = row(family);
        if (row != null && row.sessionId.equals(sessionId) && Arrays.equals(row.tokenId, tokenId) && row.currentUsedAt == 0) {
            row.currentUsedAt = now;
        }
    }

    @Override
    public int revokeSession(String sessionId) {
        revokedSessions.add(sessionId);
        int before = rows.size();
        rows.values().removeIf(row -> row.sessionId.equals(sessionId));
        return before - rows.size();
    }

    @Override
    public void ping() {
    }

    @Override
    public boolean deleteFamilyIfOthers(String sessionId, byte[] family) {
        Row row = row(family);
        if (row == null || !row.sessionId.equals(sessionId)
                || rows.values().stream().noneMatch(other -> other != row && other.sessionId.equals(sessionId))) {
            return false;
        }
        rows.remove(HexFormat.of().formatHex(family));
        return true;
    }

    private Family snapshot(byte[] family, Row row) {
        return new Family(family.clone(), row.sessionId, row.tokenId, row.generation, row.issuedAt, row.previousTokenId,
                row.previousUntil, row.createdAt, now, sessionStamp, row.currentUsedAt, row.olderTokenId, row.olderUntil);
    }
}
