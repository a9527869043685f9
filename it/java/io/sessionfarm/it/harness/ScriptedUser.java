package io.sessionfarm.it.harness;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.sessionfarm.it.Client;
import io.sessionfarm.it.Farm;

/**
 * One scripted shopper: logs in, adds items to its cart, checks out (the cart becomes an order
 * and is emptied), and now and then logs out and comes back as a new session, so that carts stay
 * small and sessions come and go as in a shop. With {@code growingCart} it never checks out: one
 * ever-growing attribute, the worst case for the store. Every reply is checked against what the
 * user was told before; its items are named after it, so a reply holding another user's item is
 * caught.
 */
public final class ScriptedUser {

    /** What one step saw; the harness counts these. */
    public enum Outcome { OK, UNREACHABLE, SERVER_ERROR, OTHER_STATUS, NEW_SESSION, LOST_WRITES, FOREIGN_DATA }

    private static final Pattern CART = Pattern.compile("\"cart\":\\[([^\\]]*)\\]");
    private static final Pattern ORDERED = Pattern.compile("\"ordered\":\\[([^\\]]*)\\]");
    /** A shopper's cart holds 1 to this many items before checkout. */
    private static final int MAX_CART = 12;
    private static final Pattern USER = Pattern.compile("\"user\":\"([^\"]*)\"");

    final String name;
    final boolean roaming;
    private final boolean growingCart;
    private final java.util.Random random;
    private int cartSize;
    private boolean leaving;
    private final Client client = new Client();
    /** The last replies, printed the first time this user sees something wrong: what led to it. */
    private final java.util.ArrayDeque<String> recent = new java.util.ArrayDeque<>();
    /** The kinds of trouble this user has told of: each is told once, with the replies before it. */
    private final Set<String> told = new HashSet<>();
    /** Items the farm acknowledged, in order: each must be in every later reply. */
    private final List<String> acknowledged = new ArrayList<>();
    /** Items sent whose reply never came: they may or may not have been applied. */
    private final Set<String> maybe = new HashSet<>();
    private boolean loggedIn;
    private int sequence;
    int home;
    long lostWrites;

    ScriptedUser(String name, boolean roaming, int home, boolean growingCart) {
        this.name = name;
        this.roaming = roaming;
        this.home = home;
        this.growingCart = growingCart;
        this.random = new java.util.Random(name.hashCode());
        this.cartSize = 1 + random.nextInt(MAX_CART);
    }

    /**
     * One step against {@code node}: log in if needed; a shopper whose cart is full checks out, and
     * one in three then logs out; else add an item (every 5th step: read the cart back).
     */
    Outcome step(Farm.Node node) {
        try {
            if (!loggedIn) {
                Client.Reply reply = client.get(node, "/api/login?value=" + name);
                note(node, "login", reply);
                if (reply.status() != 200) {
                    return status(node, reply);
                }
                loggedIn = true; // the session keeps its cart (a login changes its id, not its data)
                return Outcome.OK;
            }
            if (leaving) {
                // Items of this session may still show if the logout's reply is lost and it lives on.
                maybe.addAll(acknowledged);
                Client.Reply reply = client.get(node, "/api/invalidate");
                note(node, "logout", reply);
                if (reply.status() != 200) {
                    return status(node, reply);
                }
                leaving = false;
                loggedIn = false;
                acknowledged.clear(); // the session and its cart are gone; the next login starts empty
                return Outcome.OK;
            }
            if (!growingCart && acknowledged.size() >= cartSize) {
                return checkout(node);
            }
            boolean write = ++sequence % 5 != 0;
            String item = name + "-" + sequence;
            if (write) {
                maybe.add(item);
            }
            Client.Reply reply = client.get(node, write ? "/api/append?name=cart&value=" + item : "/api/get");
            note(node, write ? "append " + item : "get", reply);
            if (reply.status() != 200) {
                return status(node, reply);
            }
            return check(reply.body(), write ? item : null);
        } catch (IOException e) {
            return Outcome.UNREACHABLE;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Outcome.UNREACHABLE;
        }
    }

    /** The order must hold every item acknowledged, and only this user's; the cart is empty after. */
    private Outcome checkout(Farm.Node node) throws IOException, InterruptedException {
        List<String> expected = new ArrayList<>(acknowledged);
        // Until the reply comes, the cart may have been emptied or not: its items are allowed, not required.
        maybe.addAll(acknowledged);
        acknowledged.clear();
        Client.Reply reply = client.get(node, "/api/checkout");
        note(node, "checkout", reply);
        if (reply.status() != 200) {
            return status(node, reply);
        }
        Matcher user = USER.matcher(reply.body());
        if (user.find() && !user.group(1).equals(name)) {
            tell("foreign", "an order of " + user.group(1));
            return Outcome.FOREIGN_DATA;
        }
        List<String> ordered = items(ORDERED, reply.body());
        for (String item : ordered) {
            if (!item.startsWith(name + "-") || !maybe.contains(item)) {
                tell("foreign", "an order with an item it never sent: " + item);
                return Outcome.FOREIGN_DATA;
            }
        }
        maybe.clear();
        cartSize = 1 + random.nextInt(MAX_CART);
        leaving = random.nextInt(3) == 0;
        expected.removeAll(ordered);
        if (!expected.isEmpty()) {
            tell("lost", "an order without acknowledged items " + expected);
            lostWrites += expected.size();
            return Outcome.LOST_WRITES;
        }
        return Outcome.OK;
    }

    private void note(Farm.Node node, String step, Client.Reply reply) {
        recent.addLast(java.time.LocalTime.now() + " " + node.name() + " " + step + " -> " + reply.status() + " "
                + reply.body().strip());
        if (recent.size() > 14) {
            recent.removeFirst();
        }
    }

    private void tell(String kind, String what) {
        if (told.add(kind)) {
            System.err.println(name + " saw " + what + "; acknowledged " + acknowledged + ", maybe " + maybe
                    + "; its last replies:\n  " + String.join("\n  ", recent));
        }
    }

    private static List<String> items(Pattern list, String body) {
        List<String> items = new ArrayList<>();
        Matcher matcher = list.matcher(body);
        if (matcher.find() && !matcher.group(1).isEmpty()) {
            for (String quoted : matcher.group(1).split(",")) {
                items.add(quoted.replace("\"", ""));
            }
        }
        return items;
    }

    /** A reply other than 200: told the first time, with the replies before it. */
    private Outcome status(Farm.Node node, Client.Reply reply) {
        tell("status", "HTTP " + reply.status() + " from " + node.name());
        return reply.status() >= 500 ? Outcome.SERVER_ERROR : Outcome.OTHER_STATUS;
    }

    private Outcome check(String body, String written) {
        Matcher user = USER.matcher(body);
        String owner = user.find() ? user.group(1) : null;
        if (owner != null && !owner.equals(name)) {
            tell("foreign", "a session of " + owner);
            return Outcome.FOREIGN_DATA;
        }
        List<String> items = items(CART, body);
        for (String item : items) {
            if (!item.startsWith(name + "-") || !(acknowledged.contains(item) || maybe.contains(item) || item.equals(written))) {
                tell("foreign", "an item it never sent: " + item);
                return Outcome.FOREIGN_DATA; // another user's item, or one this user never sent
            }
        }
        List<String> missing = new ArrayList<>(acknowledged);
        missing.removeAll(items);
        acknowledged.clear();
        acknowledged.addAll(items);
        maybe.removeAll(items);
        if (written != null) {
            maybe.remove(written);
        }
        boolean sessionGone = written == null && owner == null; // a read that found no logged-in session
        if (sessionGone) {
            loggedIn = false;
        }
        if (!missing.isEmpty()) {
            tell("lost", "acknowledged items missing " + missing);
            lostWrites += missing.size();
            return Outcome.LOST_WRITES;
        }
        return sessionGone ? Outcome.NEW_SESSION : Outcome.OK;
    }
}
