package io.hybridrec.features;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

/**
 * State written by the micro-window operator before this one (fixture {@code legacy-state-af04c54.txt}, bytes written
 * by that code) is read into the current spec's state: what it kept carries over, and new events fold in on top.
 */
class LegacyStateTest {
    private static final FreshSpec SPEC = TestSpecs.spec();
    private static final long T = 1_700_000_000_000L;

    static Map<String, byte[]> fixture() throws IOException {
        Map<String, byte[]> out = new HashMap<>();
        try (InputStream in = LegacyStateTest.class.getResourceAsStream("/legacy-state-af04c54.txt")) {
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                if (!line.isEmpty() && !line.startsWith("#")) {
                    String[] p = line.split(" ");
                    out.put(p[0] + " " + p[1], FreshSpec.bytes(p[2]));
                }
            }
        }
        return out;
    }

    @Test
    void aUserKeepsItsRecentItemsSessionHiddenItemsAndCounts() throws IOException {
        FreshSpec.View user = SPEC.views[0];
        EntityState s = LegacyState.read(fixture().get("user u1"), user, SPEC.genres.length);
        Object[] v = s.values(user);
        assertEquals(List.of("i2", "i2", "i1"), v[user.fieldIndex("recent_items")]);
        assertArrayEquals(new long[] {T + 3_690_000, T + 60_000, T}, (long[]) v[user.fieldIndex("recent_item_times_ms")]);
        assertEquals(List.of("i2"), v[user.fieldIndex("session_items")]);
        assertEquals(T + 3_690_000, v[user.fieldIndex("session_start_ms")]);
        assertEquals(List.of("i2", "i3"), v[user.fieldIndex("hidden_items")]);
        assertEquals(T + 3_690_000, v[user.fieldIndex("last_event_ms")]);
        long[] counts = (long[]) v[user.fieldIndex("counts_1h")];
        assertEquals(1L, counts[4]);
        assertEquals(1L, java.util.Arrays.stream(counts).sum());
        assertEquals(T + 3_690_001, s.version);

        // new events continue the old state: a hide joins the list, a close engagement extends the session
        Genres genres = TestSpecs.genres(SPEC);
        assertEquals(-1L, s.accept(user, new Event(T + 3_700_000, "n1", "u1", "i1", 7), genres, 0L));
        assertEquals(-1L, s.accept(user, new Event(T + 3_710_000, "n2", "u1", "i3", 2), genres, 0L));
        v = s.values(user);
        assertEquals(List.of("i1", "i2", "i3"), v[user.fieldIndex("hidden_items")]);
        assertEquals(List.of("i2", "i3"), v[user.fieldIndex("session_items")]);
        assertEquals(List.of("i3", "i2", "i2", "i1"), v[user.fieldIndex("recent_items")]);
        // what the old state did not keep (its raw events) cannot be re-folded: older events are late
        assertTrue(s.accept(user, new Event(T + 3_600_000, "old", "u1", "i1", 2), genres, 0L) >= 0);
    }

    @Test
    void anItemKeepsItsPopularity() throws IOException {
        FreshSpec.View item = SPEC.views[1];
        EntityState s = LegacyState.read(fixture().get("item i2"), item, SPEC.genres.length);
        Object[] v = s.values(item);
        double halfLife = 21_600_000.0;  // the old job's popularity half-life
        double expected = Math.pow(2, -3_690_000 / halfLife) + Math.pow(2, -3_630_000 / halfLife) + 1.0;
        assertEquals(expected, (Double) v[item.fieldIndex("decayed_popularity")], 1e-12);
        assertEquals(T + 3_690_000, v[item.fieldIndex("last_event_ms")]);
        assertEquals(2L, v[item.fieldIndex("trending_1h")]);
        assertEquals(T + 3_690_000, s.version);
    }
}
