package io.sessionfarm.session;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.apache.catalina.core.StandardContext;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import io.sessionfarm.session.CheckpointPolicy.Trigger;
import io.sessionfarm.session.AttributeChanges.Delta;
import io.sessionfarm.store.StoredSession;
import io.sessionfarm.store.StoredSession.StoredAttribute;

/** Change tracking and merging, without a store: what a checkpoint would write. */
class FarmSessionTest {

    private FarmManager manager;
    private FarmSession session;
    private final AttributeCodec codec = new AttributeCodec(
            ManagerSettings.parse(Map.of("jdbcUrl", "jdbc:postgresql://x/y")).deserializationFilter());

    @BeforeEach
    void newSession() {
        manager = new FarmManager();
        StandardContext context = new StandardContext();
        context.setPath("/shop");
        manager.setContext(context);
        session = new FarmSession(manager);
        session.setValid(true);
        session.setId("s1", false);
    }

    /** What a successful checkpoint records, as if the store had answered with {@code version}. */
    private Delta checkpoint(long version) {
        Delta delta = session.collectChanges(false);
        session.checkpointed(delta, version, System.currentTimeMillis());
        return delta;
    }

    @Test
    void setAttributeIsWrittenOnceThenNotAgain() {
        session.setAttribute("user", "ada");
        assertEquals(Set.of("user"), checkpoint(1).writes().keySet());
        assertTrue(session.collectChanges(false).isEmpty());
    }

    @Test
    void settingTheSameValueAgainWritesNothing() {
        session.setAttribute("user", "ada");
        checkpoint(1);
        session.setAttribute("user", "ada");
        assertTrue(session.collectChanges(false).isEmpty());
    }

    @Test
    void objectChangedInPlaceIsCaughtWithoutSetAttribute() {
        session.setAttribute("cart", new ArrayList<>(List.of("teapot")));
        session.setAttribute("user", "ada");
        checkpoint(1);
        @SuppressWarnings("unchecked")
        List<String> cart = (List<String>) session.getAttribute("cart");
        cart.add("cups");
        Delta delta = session.collectChanges(false);
        assertEquals(Set.of("cart"), delta.writes().keySet(), "only the changed attribute is rewritten");
    }

    /** Counts how often it is serialized. */
    static final class Counting implements java.io.Serializable {
        transient int writes;

        private void writeObject(java.io.ObjectOutputStream out) throws IOException {
            writes++;
            out.defaultWriteObject();
        }
    }

    @Test
    void mutableAttributesNotReadSinceTheLastCheckpointAreNotSerializedAgain() {
        Counting counting = new Counting();
        session.setAttribute("big", counting);
        checkpoint(1);
        assertEquals(1, counting.writes);
        session.setAttribute("counter", 2);
        checkpoint(2);
        assertEquals(1, counting.writes, "not read, so it cannot have changed");
        session.getAttribute("big");
        assertTrue(session.collectChanges(false).isEmpty(), "read but unchanged: compared, not written");
        assertEquals(2, counting.writes);
    }

    @Test
    void removalIsWritten() {
        session.setAttribute("user", "ada");
        checkpoint(1);
        session.removeAttribute("user");
        Delta delta = session.collectChanges(false);
        assertEquals(Set.of("user"), delta.removals());
        assertTrue(delta.writes().isEmpty());
    }

    @Test
    void nonSerializableAttributeIsSkippedAndTheRestWritten() {
        session.setAttribute("thread", new Object());
        session.setAttribute("user", "ada");
        Delta delta = checkpoint(1);
        assertEquals(Set.of("user"), delta.writes().keySet());
        assertEquals(1, manager.getAttributesNotSerializable());
        assertTrue(session.collectChanges(false).isEmpty(), "not retried until set again");
        assertEquals(Object.class, session.getAttribute("thread").getClass(), "still in memory");
    }

    @Test
    void replacingAStoredValueWithAnUnserializableOneRemovesTheStoredValue() {
        session.setAttribute("thing", "old");
        checkpoint(1);
        session.setAttribute("thing", new Object());
        assertEquals(Set.of("thing"), session.collectChanges(false).removals());
    }

    @Test
    void failedCheckpointKeepsItsChangesOwed() {
        session.setAttribute("user", "ada");
        Delta delta = session.collectChanges(false);
        session.checkpointFailed(delta);
        assertTrue(session.owed());
        assertEquals(Set.of("user"), session.collectChanges(false).writes().keySet());
    }

    @Test
    void adoptTakesOtherNodesChangesAndReportsClashes() throws IOException {
        session.setAttribute("a", "1");
        session.setAttribute("b", "1");
        session.setAttribute("gone", "1");
        checkpoint(1);
        session.setAttribute("b", "mine");
        StoredSession stored = new StoredSession("s1", 2, 0, System.currentTimeMillis(), 1800, Long.MAX_VALUE, Map.of(
                "a", new StoredAttribute(2, AttributeCodec.serialize("theirs")),
                "b", new StoredAttribute(2, AttributeCodec.serialize("theirs")),
                "new", new StoredAttribute(2, AttributeCodec.serialize("theirs"))));
        Set<String> clashes = session.adopt(stored, Set.of(), codec, getClass().getClassLoader());
        assertEquals(Set.of("b"), clashes);
        assertEquals("theirs", session.getAttribute("a"));
        assertEquals("theirs", session.getAttribute("new"));
        assertEquals("mine", session.getAttribute("b"), "our unwritten change is kept for the policy to settle");
        assertNull(session.getAttribute("gone"), "removed on the other node");
        assertEquals(2, session.storedVersion());
        assertEquals(Set.of("b"), session.collectChanges(false).writes().keySet());
    }

    @Test
    void unreadableStoredAttributeIsSkippedNotFatal() {
        StoredSession stored = new StoredSession("s1", 1, 0, System.currentTimeMillis(), 1800, Long.MAX_VALUE, Map.of(
                "bad", new StoredAttribute(1, new byte[] {1, 2, 3}),
                "good", new StoredAttribute(1, serialized("ok"))));
        session.adopt(stored, Set.of(), codec, getClass().getClassLoader());
        assertEquals("ok", session.getAttribute("good"));
        assertNull(session.getAttribute("bad"));
        assertEquals(1, manager.getAttributesUnreadable());
        assertFalse(session.collectChanges(false).removals().contains("bad"), "an unreadable value is left in the store");
    }

    @Test
    void policyFiresOnWhicheverTriggerComesFirst() {
        CheckpointPolicy policy = new CheckpointPolicy(true, 60_000, 3, 5);
        long now = System.currentTimeMillis();
        assertEquals(Trigger.CREATE, policy.dueAfterRequest(session, now));
        checkpoint(1);
        session.requestServed();
        assertNull(policy.dueAfterRequest(session, now));
        session.setAttribute("x", "1");
        session.setAttribute("x", "2");
        session.setAttribute("x", "3");
        assertEquals(Trigger.UPDATES, policy.dueAfterRequest(session, now));
        checkpoint(2);
        for (int i = 0; i < 5; i++) {
            session.requestServed();
        }
        assertEquals(Trigger.REQUESTS, policy.dueAfterRequest(session, now));
        checkpoint(3);
        session.requestServed();
        assertEquals(Trigger.INTERVAL, policy.dueAfterRequest(session, now + 61_000));
        assertNull(new CheckpointPolicy(false, 60_000, 0, 0).dueByTime(session, now + 1000));
    }

    /**
     * Two requests of one session end at once on a node: the other one's checkpoint collected its
     * changes before this request set its attribute, and finishes after this request counted
     * itself. This request must still find its checkpoint due: it answers only once its change is
     * stored.
     */
    @Test
    void aCheckpointThatFinishesDuringAnotherRequestLeavesThatRequestsCheckpointDue() {
        CheckpointPolicy perRequest = new CheckpointPolicy(true, 0, 0, 1);
        long now = System.currentTimeMillis();
        checkpoint(1);
        Delta others = session.collectChanges(true);
        session.setAttribute("c0", 3);
        session.requestServed();
        session.nothingToCheckpoint(others, now);
        assertEquals(Trigger.REQUESTS, perRequest.dueAfterRequest(session, now));
        assertEquals(Set.of("c0"), checkpoint(2).writes().keySet());
        assertNull(perRequest.dueAfterRequest(session, now), "covered by the checkpoint that wrote it");
    }

    @Test
    void pollerSkipsSessionsUnusedSinceTheirLastCheckpoint() {
        CheckpointPolicy policy = new CheckpointPolicy(true, 10_000, 0, 0);
        checkpoint(1);
        assertNull(policy.dueByTime(session, System.currentTimeMillis() + 20_000));
        session.requestServed();
        assertEquals(Trigger.INTERVAL, policy.dueByTime(session, System.currentTimeMillis() + 20_000));
    }

    private static byte[] serialized(Object value) {
        try {
            return AttributeCodec.serialize(value);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }
}
