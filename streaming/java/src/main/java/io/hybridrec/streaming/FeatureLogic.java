package io.hybridrec.streaming;

import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The per-user and per-item feature state and its math, from the definitions in {@code streaming/logic.py}.
 * {@code tests/unit/streaming/test_java_features.py} holds it to {@code tests/support/fresh_reference.py}; the
 * integration tests hold the job to it through Feast.
 *
 * <p>State is kept as one byte array per key (the Flink state value): explicit, versioned by the leading tag,
 * and free of Kryo/POJO rules, so a checkpoint or savepoint always restores it.
 */
final class FeatureLogic {
    private static final byte USER_TAG = 1;
    private static final byte ITEM_TAG = 2;

    private FeatureLogic() {
    }

    /** Lookup of an item's genre vector (on the spec's genre axis). */
    interface Genres {
        double[] vector(String itemId);
    }

    /** One event of a user's micro-window; ordered by time, then event id, item id, type (as logic.Event). */
    static final class Event implements Comparable<Event> {
        final long timeMs;
        final String eventId;
        final String itemId;
        final int type;

        Event(long timeMs, String eventId, String itemId, int type) {
            this.timeMs = timeMs;
            this.eventId = eventId;
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
    }

    /** Python compares strings by code point; String.compareTo by UTF-16 unit (differs above U+FFFF). */
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

    static double decay(long halfLifeMs, long dtMs) {
        return Math.pow(2.0, -(double) dtMs / halfLifeMs);
    }

    /** Everything kept per user plus the last emitted version. */
    static final class UserState {
        final List<String> recentItems = new ArrayList<>();   // newest first
        final List<Long> recentTimes = new ArrayList<>();
        long sessionStartMs;
        final List<String> sessionItems = new ArrayList<>();
        double[] sessionGenreSum;
        double[] taste;
        long lastEngagementMs;
        long lastEventMs;
        long[] windowTimes = new long[0];  // (time, type) of events within counts_long, oldest first
        int[] windowTypes = new int[0];
        int windowSize;
        final List<String> hidden = new ArrayList<>();       // distinct, newest first
        long version;

        UserState(int nGenres) {
            sessionGenreSum = new double[nGenres];
            taste = new double[nGenres];
        }

        void addWindowEvent(long t, int type) {
            if (windowSize == windowTimes.length) {
                int n = Math.max(8, windowSize * 2);
                windowTimes = Arrays.copyOf(windowTimes, n);
                windowTypes = Arrays.copyOf(windowTypes, n);
            }
            windowTimes[windowSize] = t;
            windowTypes[windowSize] = type;
            windowSize++;
        }
    }

    /** Fold events (in event-time order) into the state. */
    static void applyUserEvents(UserState s, List<Event> events, FeatureSpec spec, Genres genres) {
        int nGenres = spec.genres.length;
        for (Event e : events) {
            s.addWindowEvent(e.timeMs, e.type);
            s.lastEventMs = Math.max(s.lastEventMs, e.timeMs);
            if (e.type == spec.hideType) {
                s.hidden.remove(e.itemId);
                s.hidden.add(0, e.itemId);
                truncate(s.hidden, spec.hiddenN);
            }
            if (e.type < 0 || e.type >= spec.engagement.length || !spec.engagement[e.type]) {
                continue;
            }
            double[] vec = genres.vector(e.itemId);
            if (s.sessionItems.isEmpty() || e.timeMs - s.lastEngagementMs > spec.sessionGapMs) {
                s.sessionStartMs = e.timeMs;
                s.sessionItems.clear();
                s.sessionGenreSum = new double[nGenres];
            }
            s.sessionItems.add(e.itemId);
            for (int g = 0; g < nGenres; g++) {
                s.sessionGenreSum[g] = s.sessionGenreSum[g] + vec[g];
            }
            double k = s.lastEngagementMs != 0 ? decay(spec.tasteHalfLifeMs, e.timeMs - s.lastEngagementMs) : 0.0;
            for (int g = 0; g < nGenres; g++) {
                s.taste[g] = s.taste[g] * k + vec[g];
            }
            s.lastEngagementMs = e.timeMs;
            s.recentItems.add(0, e.itemId);
            s.recentTimes.add(0, e.timeMs);
            truncate(s.recentItems, spec.recentN);
            truncate(s.recentTimes, spec.recentN);
        }
        long horizon = s.lastEventMs - spec.countsLongMs;
        if (s.windowSize > 0 && s.windowTimes[0] <= horizon) {
            int kept = 0;
            for (int i = 0; i < s.windowSize; i++) {
                if (s.windowTimes[i] > horizon) {
                    s.windowTimes[kept] = s.windowTimes[i];
                    s.windowTypes[kept] = s.windowTypes[i];
                    kept++;
                }
            }
            s.windowSize = kept;
        }
    }

    private static <T> void truncate(List<T> list, int n) {
        while (list.size() > n) {
            list.remove(list.size() - 1);
        }
    }

    /** One user_fresh feature by name , or null when the name is not a user feature. */
    static Object userFeature(UserState s, String name, FeatureSpec spec) {
        switch (name) {
            case "recent_items": return s.recentItems;
            case "recent_item_times_ms": return longs(s.recentTimes);
            case "session_start_ms": return s.sessionStartMs;
            case "session_items": return s.sessionItems;
            case "session_genres": {
                int n = s.sessionItems.size();
                double[] out = new double[s.sessionGenreSum.length];
                if (n > 0) {
                    for (int g = 0; g < out.length; g++) {
                        out[g] = s.sessionGenreSum[g] / n;
                    }
                }
                return out;
            }
            case "taste_genres": {
                double total = 0.0;
                for (double v : s.taste) {
                    total += v;
                }
                double[] out = new double[s.taste.length];
                if (total > 0) {
                    for (int g = 0; g < out.length; g++) {
                        out[g] = s.taste[g] / total;
                    }
                }
                return out;
            }
            case "counts_1h": return counts(s, s.lastEventMs - spec.countsShortMs, spec.nEventTypes);
            case "counts_1d": return counts(s, s.lastEventMs - spec.countsLongMs, spec.nEventTypes);
            case "last_event_ms": return s.lastEventMs;
            case "hidden_items": return s.hidden;
            default: return null;
        }
    }

    private static long[] counts(UserState s, long afterMs, int nTypes) {
        long[] c = new long[nTypes];
        for (int i = 0; i < s.windowSize; i++) {
            if (s.windowTimes[i] > afterMs) {
                c[s.windowTypes[i]]++;
            }
        }
        return c;
    }

    private static long[] longs(List<Long> values) {
        long[] out = new long[values.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = values.get(i);
        }
        return out;
    }

    /** Per item plus the last emitted version. */
    static final class ItemState {
        double popularity;
        long lastEventMs;
        long trending;
        long trendingWindowEndMs;
        long version;
    }

    /** The decayed sum at the newest time (any order of times). */
    static void addItemEvents(ItemState s, Long[] times, long halfLifeMs) {
        if (times.length == 0) {
            return;
        }
        long newest = s.lastEventMs;
        long maxTime = Long.MIN_VALUE;
        for (Long t : times) {
            maxTime = Math.max(maxTime, t);
        }
        newest = Math.max(maxTime, newest);
        double pop = s.lastEventMs != 0 ? s.popularity * decay(halfLifeMs, newest - s.lastEventMs) : 0.0;
        double sum = 0.0;  // Python's sum(): left to right from int 0
        for (Long t : times) {
            sum += decay(halfLifeMs, newest - t);
        }
        s.popularity = pop + sum;
        s.lastEventMs = newest;
    }

    /** Keep the newest fired window's count. */
    static void setItemTrending(ItemState s, long windowEndMs, long count) {
        if (windowEndMs >= s.trendingWindowEndMs) {
            s.trending = count;
            s.trendingWindowEndMs = windowEndMs;
        }
    }

    static Object itemFeature(ItemState s, String name) {
        switch (name) {
            case "trending_1h": return s.trending;
            case "trending_window_end_ms": return s.trendingWindowEndMs;
            case "decayed_popularity": return s.popularity;
            case "last_event_ms": return s.lastEventMs;
            default: return null;
        }
    }

    // --- state bytes -----------------------------------------------------------------------------------------

    // ByteBuffer, not Data{In,Out}putStream over byte-array streams: those read and write a long through
    // synchronized single-byte calls, and this state is rewritten on every update of the key (same bytes).
    static byte[] write(UserState s) {
        byte[][] recent = utf8(s.recentItems);
        byte[][] session = utf8(s.sessionItems);
        byte[][] hidden = utf8(s.hidden);
        int size = 1 + 8 + size(recent) + 8 * s.recentTimes.size() + 8 + size(session)
            + 4 + 8 * s.sessionGenreSum.length + 4 + 8 * s.taste.length + 8 + 8 + 4 + 9 * s.windowSize + size(hidden);
        ByteBuffer out = ByteBuffer.allocate(size);
        out.put(USER_TAG);
        out.putLong(s.version);
        putStrings(out, recent);
        for (Long t : s.recentTimes) {
            out.putLong(t);
        }
        out.putLong(s.sessionStartMs);
        putStrings(out, session);
        putDoubles(out, s.sessionGenreSum);
        putDoubles(out, s.taste);
        out.putLong(s.lastEngagementMs);
        out.putLong(s.lastEventMs);
        out.putInt(s.windowSize);
        for (int i = 0; i < s.windowSize; i++) {
            out.putLong(s.windowTimes[i]);
            out.put((byte) s.windowTypes[i]);
        }
        putStrings(out, hidden);
        return out.array();
    }

    static UserState readUser(byte[] b, int nGenres) {
        UserState s = new UserState(nGenres);
        if (b == null) {
            return s;
        }
        try {
            ByteBuffer in = ByteBuffer.wrap(b);
            check(in.get(), USER_TAG);
            s.version = in.getLong();
            getStrings(in, s.recentItems);
            for (int i = 0; i < s.recentItems.size(); i++) {
                s.recentTimes.add(in.getLong());
            }
            s.sessionStartMs = in.getLong();
            getStrings(in, s.sessionItems);
            s.sessionGenreSum = getDoubles(in);
            s.taste = getDoubles(in);
            s.lastEngagementMs = in.getLong();
            s.lastEventMs = in.getLong();
            int n = in.getInt();
            s.windowTimes = new long[Math.max(8, n + 16)];
            s.windowTypes = new int[s.windowTimes.length];
            for (int i = 0; i < n; i++) {
                s.windowTimes[i] = in.getLong();
                s.windowTypes[i] = in.get();
            }
            s.windowSize = n;
            getStrings(in, s.hidden);
            return s;
        } catch (BufferUnderflowException | IllegalArgumentException e) {
            throw new IllegalStateException("corrupt user state", e);
        }
    }

    static byte[] write(ItemState s) {
        byte[] b = new byte[1 + 5 * 8];
        ByteBuffer buf = ByteBuffer.wrap(b);
        buf.put(ITEM_TAG).putLong(s.version).putDouble(s.popularity).putLong(s.lastEventMs).putLong(s.trending)
            .putLong(s.trendingWindowEndMs);
        return b;
    }

    static ItemState readItem(byte[] b) {
        ItemState s = new ItemState();
        if (b == null) {
            return s;
        }
        ByteBuffer buf = ByteBuffer.wrap(b);
        check(buf.get(), ITEM_TAG);
        s.version = buf.getLong();
        s.popularity = buf.getDouble();
        s.lastEventMs = buf.getLong();
        s.trending = buf.getLong();
        s.trendingWindowEndMs = buf.getLong();
        return s;
    }

    private static void check(byte tag, byte expected) {
        if (tag != expected) {
            throw new IllegalStateException("state tag " + tag + ", expected " + expected);
        }
    }

    private static byte[][] utf8(List<String> values) {
        byte[][] out = new byte[values.size()][];
        for (int i = 0; i < out.length; i++) {
            out[i] = values.get(i).getBytes(StandardCharsets.UTF_8);
        }
        return out;
    }

    private static int size(byte[][] strings) {
        int n = 4;
        for (byte[] b : strings) {
            n += 4 + b.length;
        }
        return n;
    }

    private static void putStrings(ByteBuffer out, byte[][] values) {
        out.putInt(values.length);
        for (byte[] b : values) {
            out.putInt(b.length);
            out.put(b);
        }
    }

    private static void getStrings(ByteBuffer in, List<String> into) {
        int n = in.getInt();
        for (int i = 0; i < n; i++) {
            byte[] b = new byte[in.getInt()];
            in.get(b);
            into.add(new String(b, StandardCharsets.UTF_8));
        }
    }

    private static void putDoubles(ByteBuffer out, double[] values) {
        out.putInt(values.length);
        for (double v : values) {
            out.putDouble(v);
        }
    }

    private static double[] getDoubles(ByteBuffer in) {
        double[] v = new double[in.getInt()];
        for (int i = 0; i < v.length; i++) {
            v[i] = in.getDouble();
        }
        return v;
    }
}
