package io.sessionfarm.it;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.net.URI;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.BiConsumer;

/**
 * Users of a farm behind a sticky balancer, for the tests of stickiness: each with its session,
 * the node that holds it, and a counter in it that every request of the user raises by one, so
 * that a lost write shows at the next request.
 */
final class StickyUsers {

    final List<Client> users = new ArrayList<>();
    final Map<Client, String> home = new HashMap<>();
    private final Map<Client, Integer> counters = new HashMap<>();
    private final Random order = new Random(7);
    private final int port;
    private final String path;
    private final String field;

    /** @param path a request that raises the counter {@code field} and names the node in {@code node} */
    StickyUsers(int balancerPort, String path, String field) {
        this.port = balancerPort;
        this.path = path;
        this.field = field;
    }

    URI through(String requestPath) {
        return URI.create("http://127.0.0.1:" + port + requestPath);
    }

    /** A new user: its first request, through the balancer, makes its session on the node that answers. */
    Client.Reply join() throws Exception {
        Client user = new Client();
        Client.Reply first = user.get(through(path));
        assertEquals(1, first.intField(field), first.body());
        users.add(user);
        home.put(user, first.field("node"));
        counters.put(user, 1);
        return first;
    }

    /** The user's next request through the balancer: the counter goes on (nothing acknowledged lost). */
    Client.Reply next(Client user) throws Exception {
        Client.Reply reply = user.get(through(path));
        assertEquals(200, reply.status(), reply.body());
        assertEquals(counters.merge(user, 1, Integer::sum), reply.intField(field), "nothing acknowledged lost: " + reply.body());
        return reply;
    }

    /** The count a request this class does not send should answer (the user's counter, raised by one). */
    int expectRaisedElsewhere(Client user) {
        return counters.merge(user, 1, Integer::sum);
    }

    /**
     * Rounds in which every user makes a request and is answered by its home node: in another
     * order each round, after a request without a session, so that only stickiness keeps each
     * user home. {@code check} sees each answer too.
     */
    void rounds(int count, String why, BiConsumer<Client, Client.Reply> check) throws Exception {
        for (int round = 0; round < count; round++) {
            Collections.shuffle(users, order);
            new Client().get(through("/api/ping"));
            for (Client user : users) {
                Client.Reply reply = next(user);
                assertEquals(home.get(user), reply.field("node"), why);
                check.accept(user, reply);
            }
        }
    }
}
