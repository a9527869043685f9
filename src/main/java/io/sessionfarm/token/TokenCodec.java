package io.sessionfarm.token;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.util.Base64;

import javax.crypto.SecretKey;

import io.sessionfarm.keys.Aead;
import io.sessionfarm.keys.KeyRing;

/**
 * The token's wire format, version 1, base64url without padding:
 *
 * <pre>
 * 0x01 | key id (4) | nonce (12) | AES-GCM( family (16) | token id (16) | generation (8)
 *                                           | issued at (8) | session id length (1) | session id ) | tag (16)
 * </pre>
 *
 * The associated data binds a token to its purpose, its cookie name and its web application, so a
 * token cannot be replayed as another cookie or into another application; the version and key id
 * are authenticated with it. Every input is bounded and checked before anything is decrypted.
 */
public final class TokenCodec {

    /** Why a cookie value is not a token this farm issued. */
    public enum Rejection { MALFORMED, UNKNOWN_KEY, TAMPERED }

    /** Thrown for any value that is not a token of ours; carries no part of the value. */
    public static final class BadToken extends Exception {
        private final Rejection reason;

        BadToken(Rejection reason) {
            super(reason.name().toLowerCase(), null, false, false);
            this.reason = reason;
        }

        public Rejection reason() {
            return reason;
        }
    }

    static final byte VERSION = 1;
    static final int ID_BYTES = 16;
    static final int MAX_SESSION_ID = 200;
    private static final int HEADER = 1 + 4;
    private static final int FIXED_PAYLOAD = ID_BYTES * 2 + 8 + 8 + 1;
    private static final int MIN_BYTES = HEADER + Aead.OVERHEAD + FIXED_PAYLOAD + 1;
    private static final int MAX_BYTES = HEADER + Aead.OVERHEAD + FIXED_PAYLOAD + MAX_SESSION_ID;
    /** Longest base64 text of a valid token: anything longer is refused before it is decoded. */
    public static final int MAX_LENGTH = (MAX_BYTES * 4 + 2) / 3;

    private final byte[] context;

    /** @param cookieName the cookie this token travels in; @param app the web application (host + path) */
    public TokenCodec(String cookieName, String app) {
        this.context = ("sessionfarm token v1\u0000" + cookieName + "\u0000" + app + "\u0000")
                .getBytes(StandardCharsets.UTF_8);
    }

    public String seal(Token token, KeyRing.Key key) throws GeneralSecurityException {
        byte[] sid = token.sessionId().getBytes(StandardCharsets.UTF_8);
        if (token.family().length != ID_BYTES || token.tokenId().length != ID_BYTES) {
            throw new IllegalArgumentException("family and token id have " + ID_BYTES + " bytes");
        }
        if (sid.length == 0 || sid.length > MAX_SESSION_ID) {
            throw new IllegalArgumentException("session id of " + sid.length + " bytes cannot be carried");
        }
        byte[] payload = ByteBuffer.allocate(FIXED_PAYLOAD + sid.length).put(token.family()).put(token.tokenId())
                .putLong(token.generation()).putLong(token.issuedAt()).put((byte) sid.length).put(sid).array();
        byte[] header = header(key.id());
        byte[] sealed = Aead.seal(key.secret(), associated(header), payload);
        byte[] out = new byte[HEADER + sealed.length];
        System.arraycopy(header, 0, out, 0, HEADER);
        System.arraycopy(sealed, 0, out, HEADER, sealed.length);
        return Base64.getUrlEncoder().withoutPadding().encodeToString(out);
    }

    /** Looks up keys by id; null for a key this node does not have. */
    @FunctionalInterface
    public interface Keys {
        SecretKey find(int id);
    }

    public Token open(String value, Keys keys) throws BadToken {
        if (value == null || value.length() < 4 || value.length() > MAX_LENGTH) {
            throw new BadToken(Rejection.MALFORMED);
        }
        byte[] in;
        try {
            in = Base64.getUrlDecoder().decode(value);
        } catch (IllegalArgumentException e) {
            throw new BadToken(Rejection.MALFORMED);
        }
        if (in.length < MIN_BYTES || in.length > MAX_BYTES || in[0] != VERSION) {
            throw new BadToken(Rejection.MALFORMED);
        }
        int keyId = ByteBuffer.wrap(in, 1, 4).getInt();
        SecretKey key = keys.find(keyId);
        if (key == null) {
            throw new BadToken(Rejection.UNKNOWN_KEY);
        }
        byte[] payload;
        try {
            payload = Aead.open(key, associated(java.util.Arrays.copyOf(in, HEADER)), in, HEADER, in.length - HEADER);
        } catch (GeneralSecurityException e) {
            throw new BadToken(Rejection.TAMPERED);
        }
        // Authentic, so written by a node of ours; still checked, in case of a bug in an older version.
        ByteBuffer b = ByteBuffer.wrap(payload);
        if (payload.length < FIXED_PAYLOAD + 1) {
            throw new BadToken(Rejection.MALFORMED);
        }
        byte[] family = new byte[ID_BYTES];
        byte[] tokenId = new byte[ID_BYTES];
        b.get(family).get(tokenId);
        long generation = b.getLong();
        long issuedAt = b.getLong();
        int sidLength = b.get() & 0xff;
        if (sidLength == 0 || sidLength != b.remaining()) {
            throw new BadToken(Rejection.MALFORMED);
        }
        byte[] sid = new byte[sidLength];
        b.get(sid);
        return new Token(family, tokenId, generation, issuedAt, new String(sid, StandardCharsets.UTF_8), keyId);
    }

    private static byte[] header(int keyId) {
        return ByteBuffer.allocate(HEADER).put(VERSION).putInt(keyId).array();
    }

    private byte[] associated(byte[] header) {
        byte[] ad = new byte[context.length + header.length];
        System.arraycopy(context, 0, ad, 0, context.length);
        System.arraycopy(header, 0, ad, context.length, header.length);
        return ad;
    }
}
