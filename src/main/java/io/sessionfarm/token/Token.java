package io.sessionfarm.token;

import java.util.Arrays;
import java.util.HexFormat;

/**
 * What a token says, once decrypted: which family (the browser's chain of tokens for a session)
 * it belongs to, which token of the chain it is, and the session it refers to. The database
 * decides whether it is still good; this is only its claim.
 *
 * @param family     16 random bytes naming the chain; the database row's key
 * @param tokenId    16 random bytes, new at every rotation
 * @param generation how many rotations the chain has had
 * @param issuedAt   epoch milliseconds of the database's clock when it was issued
 * @param sessionId  the HttpSession id: never shown to the browser in the clear
 * @param keyId      the key-ring key it was (or will be) encrypted under
 */
public record Token(byte[] family, byte[] tokenId, long generation, long issuedAt, String sessionId, int keyId) {

    public boolean sameToken(byte[] otherTokenId) {
        return otherTokenId != null && java.security.MessageDigest.isEqual(tokenId, otherTokenId);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Token t && Arrays.equals(family, t.family) && Arrays.equals(tokenId, t.tokenId)
                && generation == t.generation && issuedAt == t.issuedAt && sessionId.equals(t.sessionId)
                && keyId == t.keyId;
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(tokenId);
    }

    /** Never the session id or the token: a token is a credential. */
    @Override
    public String toString() {
        return "Token[family " + HexFormat.of().formatHex(family, 0, 4) + "…, generation " + generation + "]";
    }
}
