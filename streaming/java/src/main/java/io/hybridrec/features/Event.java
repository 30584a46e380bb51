package io.hybridrec.features;

/**
 * The fields of an interaction the fresh features read. Ordered by event time, then event id (then item and type,
 * so the order is total): "newest" everywhere means last in this order.
 */
public final class Event implements Comparable<Event> {
    public final long timeMs;
    public final String eventId;
    public final String userId;
    public final String itemId;
    public final int type;

    public Event(long timeMs, String eventId, String userId, String itemId, int type) {
        this.timeMs = timeMs;
        this.eventId = eventId;
        this.userId = userId;
        this.itemId = itemId;
        this.type = type;
    }

    @Override
    public int compareTo(Event o) {
        int c = Long.compare(timeMs, o.timeMs);
        if (c == 0) {
            c = codePointCompare(eventId, o.eventId);
        }
        if (c == 0) {
            c = codePointCompare(itemId, o.itemId);
        }
        return c != 0 ? c : Integer.compare(type, o.type);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Event && compareTo((Event) o) == 0;
    }

    @Override
    public int hashCode() {
        return Long.hashCode(timeMs) * 31 + eventId.hashCode();
    }

    @Override
    public String toString() {
        return "Event(" + timeMs + ", " + eventId + ", " + itemId + ", " + type + ")";
    }

    /** Python orders strings by code point; String.compareTo by UTF-16 unit (they differ above U+FFFF). */
    static int codePointCompare(String a, String b) {
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
            int x = a.codePointAt(i);
            int y = b.codePointAt(j);
            if (x != y) {
                return Integer.compare(x, y);
            }
            i += Character.charCount(x);
            j += Character.charCount(y);
        }
        return Integer.compare(a.length() - i, b.length() - j);
    }
}
