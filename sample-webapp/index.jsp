<%@ page contentType="text/html;charset=UTF-8" pageEncoding="UTF-8" import="java.util.*,io.sessionfarm.sample.FarmView" %><%!
    /** In a fixed order: every node must list the products the same way. */
    static final Map<String, Integer> PRICES = new LinkedHashMap<>();
    static {
        PRICES.put("Teapot", 24);
        PRICES.put("Espresso cups (2)", 12);
        PRICES.put("Tea towel", 6);
        PRICES.put("Biscuit tin", 9);
    }

    static String escape(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
%><%
    String node = System.getProperty("sessionfarm.node", "node");
    @SuppressWarnings("unchecked")
    Map<String, Integer> cart = (Map<String, Integer>) session.getAttribute("cart");
    if (cart == null) {
        cart = new LinkedHashMap<>();
        session.setAttribute("cart", cart);
    }
    String item = request.getParameter("item");
    if ("POST".equals(request.getMethod()) && item != null && PRICES.containsKey(item)) {
        // The cart is changed in place; the Manager finds the change without another setAttribute.
        switch (String.valueOf(request.getParameter("action"))) {
            case "add" -> cart.merge(item, 1, Integer::sum);
            case "remove" -> cart.computeIfPresent(item, (k, n) -> n > 1 ? n - 1 : null);
            default -> { }
        }
        response.sendRedirect(request.getContextPath() + "/");
        return;
    }
    int total = 0;
    for (Map.Entry<String, Integer> line : cart.entrySet()) {
        total += PRICES.get(line.getKey()) * line.getValue();
    }
%><!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>sessionfarm shop</title>
  <style>
    body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; color: #222; }
    .node { background: #eef; padding: .5rem 1rem; border-radius: .4rem; }
    table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
    td, th { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #ddd; }
    form { display: inline; }
  </style>
</head>
<body>
  <h1>sessionfarm shop</h1>
  <p class="node">Served by <strong id="node"><%= escape(node) %></strong>.
     Reload, or stop this node: any other node carries on with the same cart.</p>
  <p id="farm">The farm:
    <% for (Map.Entry<String, String> other : FarmView.nodes(node, request.getContextPath()).entrySet()) { %>
    <a href="<%= escape(FarmView.onThisHost(other.getValue(), request)) %>/"><%= escape(other.getKey()) %></a> &middot;
    <% } %>
    <a href="<%= request.getContextPath() %>/farm.html">dashboard</a></p>
  <h2>Products</h2>
  <table>
    <% for (Map.Entry<String, Integer> product : PRICES.entrySet()) { %>
    <tr><td><%= escape(product.getKey()) %></td><td>&euro;<%= product.getValue() %></td>
        <td><form method="post"><input type="hidden" name="action" value="add">
            <input type="hidden" name="item" value="<%= escape(product.getKey()) %>">
            <button>Add to cart</button></form></td></tr>
    <% } %>
  </table>
  <h2>Your cart</h2>
  <% if (cart.isEmpty()) { %><p id="cart-empty">Empty.</p><% } else { %>
  <table id="cart">
    <% for (Map.Entry<String, Integer> line : cart.entrySet()) { %>
    <tr><td><%= escape(line.getKey()) %></td><td><%= line.getValue() %></td>
        <td><form method="post"><input type="hidden" name="action" value="remove">
            <input type="hidden" name="item" value="<%= escape(line.getKey()) %>">
            <button>Remove one</button></form></td></tr>
    <% } %>
    <tr><th>Total</th><th id="total">&euro;<%= total %></th><th></th></tr>
  </table>
  <% } %>
</body>
</html>
