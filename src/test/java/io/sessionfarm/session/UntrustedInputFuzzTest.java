package io.sessionfarm.session;

import javax.crypto.spec.SecretKeySpec;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

import io.sessionfarm.token.TokenCodec;

/**
 * Coverage-guided fuzzing (Jazzer) of the two decoders that read bytes nobody vouches for: the
 * token parser (a cookie value from any client) and the stored-attribute decoder (a row from the
 * database, through the deserialization allow-list). Each may refuse an input only the way its
 * caller handles: {@link TokenCodec.BadToken} for a token, an {@link Exception} for a stored value.
 * Anything else (an {@link Error} such as a stack overflow, or a token that opens) is a finding.
 */
class UntrustedInputFuzzTest {

    private static final TokenCodec TOKENS = new TokenCodec("__Host-sessionfarm", "localhost/");
    private static final javax.crypto.SecretKey KEY = new SecretKeySpec(new byte[32], "AES");
    private static final AttributeCodec ATTRIBUTES = new AttributeCodec(
            ManagerSettings.parse(java.util.Map.of("jdbcUrl", "jdbc:postgresql://127.0.0.1/x")).deserializationFilter());

    @FuzzTest(maxDuration = "45s")
    void untrustedBytesAreRefusedCleanly(FuzzedDataProvider data) {
        if (data.consumeBoolean()) {
            try {
                TOKENS.open(data.consumeRemainingAsAsciiString(), id -> id == 42 ? KEY : null);
                throw new AssertionError("a token nobody sealed opened");
            } catch (TokenCodec.BadToken refused) {
                // the only acceptable outcome
            }
        } else {
            try {
                ATTRIBUTES.deserialize(data.consumeRemainingAsBytes(), UntrustedInputFuzzTest.class.getClassLoader());
            } catch (Exception refused) {
                // FarmSession.takeStoredValue drops such an attribute with a warning
            }
        }
    }
}
