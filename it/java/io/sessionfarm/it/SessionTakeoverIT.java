package io.sessionfarm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import io.sessionfarm.store.TestDatabase;

/** Three real Tomcat nodes with the farm's own conf/context.xml; clients move between them freely. */
class SessionTakeoverIT extends FarmTestBase {

    private static List<Farm.Node> nodes;

    @BeforeAll
    static void startFarm() throws Exception {
        nodes = startNodes(farm(SessionTakeoverIT.class), fixture("context-manager-only.xml"), "node1", "node2", "node3");
    }

    private static Farm.Node node(int request) {
        return nodes.get(request % nodes.size());
    }

    @Test
    void sessionCreatedOnOneNodeIsServedWithItsDataByEveryOther() throws Exception {
        Client user = new Client();
        Set<String> servedBy = new HashSet<>();
        for (int i = 1; i <= 30; i++) {
            Client.Reply reply = user.get(node(i), "/api/whoami");
            assertEquals(200, reply.status());
            assertEquals(i, reply.intField("counter"), "request " + i + " on " + reply.field("node"));
            servedBy.add(reply.field("node"));
        }
        assertEquals(Set.of("node1", "node2", "node3"), servedBy);
    }

    @Test
    void objectChangedInPlaceOnOneNodeIsSeenOnAnother() throws Exception {
        Client user = new Client();
        user.get(nodes.get(0), "/api/append?name=cart&value=teapot");
        user.get(nodes.get(1), "/api/append?name=cart&value=cups");
        Client.Reply reply = user.get(nodes.get(2), "/api/get");
        assertTrue(reply.body().contains("\"cart\":[\"teapot\",\"cups\"]"), reply.body());
    }

    @Test
    void invalidatingOnOneNodeEndsTheSessionOnAll() throws Exception {
        Client user = new Client();
        for (int i = 0; i < 3; i++) {
            user.get(node(i), "/api/whoami"); // every node now holds a copy
        }
        Client stolenCookie = user.withSessionId(user.sessionId());
        assertTrue(user.get(nodes.get(0), "/api/invalidate").body().contains("\"invalidated\":true"));
        for (Farm.Node node : nodes) {
            assertTrue(stolenCookie.get(node, "/api/get").body().contains("\"session\":false"), node.name());
        }
    }

    @Test
    void changedSessionIdCarriesTheStoredSessionAlong() throws Exception {
        Client user = new Client();
        user.get(nodes.get(0), "/api/set?name=theme&value=dark");
        String before = user.sessionId();
        user.get(nodes.get(0), "/api/login?value=ada");
        String after = user.sessionId();
        assertNotNull(after);
        assertNotEquals(before, after, "login must change the session id");
        Client.Reply reply = user.get(nodes.get(1), "/api/get");
        assertTrue(reply.body().contains("\"theme\":\"dark\"") && reply.body().contains("\"user\":\"ada\""), reply.body());
        assertTrue(user.withSessionId(before).get(nodes.get(2), "/api/get").body().contains("\"session\":false"),
                "the old id must be dead everywhere");
    }

    @Test
    void nonSerializableAttributeStaysLocalAndTheRestIsShared() throws Exception {
        Client user = new Client();
        assertEquals(200, user.get(nodes.get(0), "/api/local-only?value=kept").status());
        Client.Reply here = user.get(nodes.get(0), "/api/get");
        assertTrue(here.body().contains("\"localOnly\""), here.body());
        Client.Reply elsewhere = user.get(nodes.get(1), "/api/get");
        assertEquals(200, elsewhere.status());
        assertTrue(elsewhere.body().contains("\"note\":\"kept\""), elsewhere.body());
        assertFalse(elsewhere.body().contains("localOnly"), elsewhere.body());
        String log = log(nodes.get(0));
        assertTrue(log.contains("attribute [localOnly] of class [org.apache.jsp.WEB_002dINF.api_jsp$LocalOnly] is not serializable"),
                "one clear warning naming the attribute and its class");
    }

    @Test
    void corruptOrForbiddenStoredValuesAreDroppedAndTheSessionContinues() throws Exception {
        Client user = new Client();
        user.get(nodes.get(0), "/api/set?name=good&value=kept");
        user.get(nodes.get(0), "/api/set?name=garbled&value=x");
        user.get(nodes.get(0), "/api/set?name=gadget&value=x");
        byte[] forbidden;
        try (var bytes = new java.io.ByteArrayOutputStream(); var out = new java.io.ObjectOutputStream(bytes)) {
            out.writeObject(new java.io.File("/etc/passwd")); // java.io is not on the allow-list
            out.flush();
            forbidden = bytes.toByteArray();
        }
        try (var db = TestDatabase.connect(databaseUrl); var ps = db.prepareStatement(
                "UPDATE sessionfarm_attribute SET value = ? WHERE session_id = ? AND name = ?")) {
            ps.setBytes(1, new byte[] {(byte) 0xAC, (byte) 0xED, 0, 5, 0x73, 0x72, 1, 2, 3});
            ps.setString(2, user.sessionId());
            ps.setString(3, "garbled");
            assertEquals(1, ps.executeUpdate());
            ps.setBytes(1, forbidden);
            ps.setString(3, "gadget");
            assertEquals(1, ps.executeUpdate());
        }
        Client.Reply reply = user.get(nodes.get(2), "/api/get"); // node3 has never held this session
        assertEquals(200, reply.status());
        assertTrue(reply.body().contains("\"good\":\"kept\""), reply.body());
        assertFalse(reply.body().contains("garbled") || reply.body().contains("gadget"), reply.body());
        String log = log(nodes.get(2));
        assertTrue(log.contains("attribute [garbled] of session [") && log.contains("attribute [gadget] of session ["),
                "one warning per refused attribute");
        assertFalse(log.contains(user.sessionId()), "logs carry a hash of the session id, never the id");
        assertEquals(200, user.get(nodes.get(2), "/api/whoami").status(), "the session goes on");
    }

    @Test
    void theShopPageKeepsTheCartAcrossNodes() throws Exception {
        Client user = new Client();
        assertEquals(200, user.get(nodes.get(0), "/").status());
        java.net.http.HttpClient http = java.net.http.HttpClient.newBuilder()
                .cookieHandler(new java.net.CookieManager()).build();
        // A form post as a browser sends it; the cart is changed in place by the page.
        String cookie = "JSESSIONID=" + user.sessionId();
        for (Farm.Node node : nodes) {
            http.send(java.net.http.HttpRequest.newBuilder(node.url("/"))
                    .header("Content-Type", "application/x-www-form-urlencoded").header("Cookie", cookie)
                    .POST(java.net.http.HttpRequest.BodyPublishers.ofString("action=add&item=Teapot")).build(),
                    java.net.http.HttpResponse.BodyHandlers.discarding());
        }
        String page = user.get(nodes.get(1), "/").body();
        assertTrue(page.contains("<td>Teapot</td><td>3</td>"), page);
        assertTrue(page.contains("&euro;72"), page);
    }
}
