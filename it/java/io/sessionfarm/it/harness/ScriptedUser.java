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
 * One scripted user: logs in, adds items to its cart, and checks every reply against what it was
 * told before. Its items are named after it, so a reply holding another user's item is caught.
 */
public final class ScriptedUser {

    /** What one step saw; the harness counts these. */
    public enum Outcome { OK, UNREACHABLE, SERVER_ERROR, OTHER_STATUS, NEW_SESSION, LOST_WRITES, FOREIGN_DATA }

    private static final Pattern CART = Pattern.compile("\"cart\":\\[([^\\]]*)\\]");
    private static final Pattern USER = Pattern.compile("\"user\":\"([^\"]*)\"");

    final String name;
    final boolean roaming;
    private final Client client = new Client();
    /** Items the farm acknowledged, in order: each must be in every later reply. */
    private final List<String> acknowledged = new ArrayList<>();
    /** Items sent whose reply never came: they may or may not have been applied. */
    private final Set<String> maybe = new HashSet<>();
    private boolean loggedIn;
    private int sequence;
    int home;
    long lostWrites;

    ScriptedUser(String name, boolean roaming, int home) {
        this.name = name;
        this.roaming = roaming;
        this.home = home;
    }

    /** One step against {@code node}: log in if needed, else add an item (every 5th step: read back). */
    Outcome step(Farm.Node node) {
        try {
            if (!loggedIn) {
                Client.Reply reply = client.get(node, "/api/login?value=" + name);
                if (reply.status() != 200) {
                    return status(reply.status());
                }
                loggedIn = true;
                acknowledged.clear();
                maybe.clear();
                return Outcome.OK;
            }
            boolean write = ++sequence % 5 != 0;
            String item = name + "-" + sequence;
            if (write) {
                maybe.add(item);
            }
            Client.Reply reply = client.get(node, write ? "/api/append?name=cart&value=" + item : "/api/get");
            if (reply.status() != 200) {
                return status(reply.status());
            }
            return check(reply.body(), write ? item : null);
        } catch (IOException e) {
            return Outcome.UNREACHABLE;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Outcome.UNREACHABLE;
        }
    }

    private static Outcome status(int status) {
        return status >= 500 ? Outcome.SERVER_ERROR : Outcome.OTHER_STATUS;
    }

    private Outcome check(String body, String written) {
        Matcher user = USER.matcher(body);
        String owner = user.find() ? user.group(1) : null;
        if (owner != null && !owner.equals(name)) {
            return Outcome.FOREIGN_DATA;
        }
        List<String> items = new ArrayList<>();
        Matcher cart = CART.matcher(body);
        if (cart.find() && !cart.group(1).isEmpty()) {
            for (String quoted : cart.group(1).split(",")) {
                items.add(quoted.replace("\"", ""));
            }
        }
        for (String item : items) {
            if (!item.startsWith(name + "-") || !(acknowledged.contains(item) || maybe.contains(item) || item.equals(written))) {
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
            lostWrites += missing.size();
            return Outcome.LOST_WRITES;
        }
        return sessionGone ? Outcome.NEW_SESSION : Outcome.OK;
    }
}
