package io.hybridrec.features;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Test;

/** Order is kept inside the state: any arrival order within the lateness bound gives the in-order features. */
class EntityStateTest {
    private static final FreshSpec SPEC = TestSpecs.spec();
    private static final FreshSpec.View USER = SPEC.views[0];
    private static final FreshSpec.View ITEM = SPEC.views[1];
    private static final Genres GENRES = TestSpecs.genres(SPEC);
    private static final long T = 1_700_000_000_000L;

    private static List<Event> events(long seed, int n) {
        Random rng = new Random(seed);
        List<Event> out = new ArrayList<>();
        long t = T;
        for (int k = 0; k < n; k++) {
            t += new long[] {1_000, 20_000, 120_000, 700_000}[rng.nextInt(4)];
            out.add(new Event(t, "e" + k, "u", "i" + (1 + rng.nextInt(4)), 1 + rng.nextInt(7)));
        }
        return out;
    }

    private static Object[] fold(FreshSpec.View view, List<Event> arrivals, long watermark) {
        EntityState s = EntityState.create(view, SPEC.genres.length);
        for (Event e : arrivals) {
            assertEquals(-1L, s.accept(view, e, GENRES, watermark), () -> "late: " + e);
        }
        return s.values(view);
    }

    private static void assertSame(Object[] expected, Object[] got) {
        for (int i = 0; i < expected.length; i++) {
            Object a = expected[i];
            Object b = got[i];
            if (a instanceof double[]) {
                assertArrayEquals((double[]) a, (double[]) b, 1e-9, "field " + i);
            } else if (a instanceof Double) {
                assertEquals((Double) a, (Double) b, 1e-9, "field " + i);
            } else if (a instanceof long[]) {
                assertArrayEquals((long[]) a, (long[]) b, "field " + i);
            } else {
                assertEquals(a, b, "field " + i);
            }
        }
    }

    @Test
    void shuffledArrivalWithinTheBoundGivesTheInOrderFeatures() {
        for (long seed = 0; seed < 20; seed++) {
            List<Event> ordered = events(seed, 60);
            // local disorder only: swap neighbours less than the lateness bound apart
            List<Event> shuffled = new ArrayList<>(ordered);
            Random rng = new Random(seed);
            for (int i = 1; i < shuffled.size(); i++) {
                if (rng.nextBoolean() && shuffled.get(i).timeMs - shuffled.get(i - 1).timeMs < 300_000) {
                    Collections.swap(shuffled, i, i - 1);
                }
            }
            assertSame(fold(USER, ordered, Long.MIN_VALUE), fold(USER, shuffled, Long.MIN_VALUE));
            // the item view is commutative: any order at all
            List<Event> engaged = new ArrayList<>();
            for (Event e : ordered) {
                if (e.type >= 2 && e.type <= 6) {
                    engaged.add(e);
                }
            }
            List<Event> anyOrder = new ArrayList<>(engaged);
            Collections.shuffle(anyOrder, rng);
            assertSame(fold(ITEM, engaged, Long.MIN_VALUE), fold(ITEM, anyOrder, Long.MIN_VALUE));
        }
    }

    @Test
    void aLateArrivalJoinsTwoSessionsWhenItFillsTheGap() {
        EntityState s = EntityState.create(USER, SPEC.genres.length);
        s.accept(USER, new Event(T, "a", "u", "i1", 2), GENRES, Long.MIN_VALUE);
        s.accept(USER, new Event(T + TestSpecs.GAP_MS + 60_000, "c", "u", "i2", 2), GENRES, Long.MIN_VALUE);
        int items = USER.fieldIndex("session_items");
        assertEquals(List.of("i2"), s.values(USER)[items]);
        // arrives last, sits between the two and is within the gap of both: one session of three
        s.accept(USER, new Event(T + TestSpecs.GAP_MS / 2, "b", "u", "i3", 3), GENRES, Long.MIN_VALUE);
        assertEquals(List.of("i1", "i3", "i2"), s.values(USER)[items]);
        assertEquals(T, s.values(USER)[USER.fieldIndex("session_start_ms")]);
    }

    @Test
    void aLongSessionKeepsItsNewestItemsAndTheMeanOfAll() {
        EntityState s = EntityState.create(USER, SPEC.genres.length);
        String[] items = {"i1", "i1", "i1", "i1", "i2", "i3"};  // Action x4, Comedy (alias), half Action half Comedy
        for (int k = 0; k < items.length; k++) {
            s.accept(USER, new Event(T + k * 60_000L, "e" + k, "u", items[k], 2), GENRES, Long.MIN_VALUE);
        }
        Object[] v = s.values(USER);
        assertEquals(TestSpecs.SESSION_ITEMS, 4);
        assertEquals(List.of("i1", "i1", "i2", "i3"), v[USER.fieldIndex("session_items")], "the newest four");
        assertEquals(T, v[USER.fieldIndex("session_start_ms")], "the session still starts at its first event");
        double[] mean = (double[]) v[USER.fieldIndex("session_genres")];
        assertEquals(4.5 / 6, mean[0], 1e-12, "Action: the mean over all six items, not the four kept");
        assertEquals(1.5 / 6, mean[1], 1e-12, "Comedy");
        // a new session after the gap starts from nothing
        s.accept(USER, new Event(T + 6 * 60_000L + TestSpecs.GAP_MS + 1, "n", "u", "i2", 2), GENRES, Long.MIN_VALUE);
        assertEquals(List.of("i2"), s.values(USER)[USER.fieldIndex("session_items")]);
    }

    @Test
    void eventsBeyondTheBoundAreLateAndChangeNothing() {
        EntityState s = EntityState.create(USER, SPEC.genres.length);
        s.accept(USER, new Event(T, "a", "u", "i1", 2), GENRES, Long.MIN_VALUE);
        s.accept(USER, new Event(T + 2 * TestSpecs.LATENESS_MS, "b", "u", "i2", 2), GENRES, Long.MIN_VALUE);
        Object[] before = s.values(USER);
        long behind = s.accept(USER, new Event(T + 1_000, "c", "u", "i3", 7), GENRES, Long.MIN_VALUE);
        assertEquals(2 * TestSpecs.LATENESS_MS - 1_000, behind);
        assertSame(before, s.values(USER));
        // the buffer bound tightens it further: only events newer than the last one it let go are folded in
        EntityState full = EntityState.create(USER, SPEC.genres.length);
        for (int k = 0; k <= TestSpecs.MAX_BUFFER; k++) {
            full.accept(USER, new Event(T + k * 1_000L, "e" + k, "u", "i1", 2), GENRES, Long.MIN_VALUE);
        }
        assertTrue(full.accept(USER, new Event(T - 1, "old", "u", "i1", 2), GENRES, Long.MIN_VALUE) >= 0);
        assertEquals(-1L, full.accept(USER, new Event(T + 1_500, "mid", "u", "i2", 2), GENRES, Long.MIN_VALUE));
        // an item view has no order-sensitive kind: nothing is ever late for it
        EntityState item = EntityState.create(ITEM, SPEC.genres.length);
        item.accept(ITEM, new Event(T + 10 * TestSpecs.LATENESS_MS, "n", "u", "i1", 2), GENRES, Long.MIN_VALUE);
        assertEquals(-1L, item.accept(ITEM, new Event(T, "o", "u", "i1", 2), GENRES, Long.MIN_VALUE));
    }

    @Test
    void trendingRisesOnArrivalAndFallsWithTheWatermark() {
        int count = ITEM.fieldIndex("trending_1h");
        int end = ITEM.fieldIndex("trending_window_end_ms");
        long slide = 300_000;
        long t0 = T - T % slide;   // a slide boundary
        EntityState s = EntityState.create(ITEM, SPEC.genres.length);
        s.accept(ITEM, new Event(t0 + 10, "a", "u", "i1", 2), GENRES, Long.MIN_VALUE);
        s.accept(ITEM, new Event(t0 + slide + 10, "b", "u", "i1", 2), GENRES, Long.MIN_VALUE);
        assertEquals(2L, s.values(ITEM)[count]);
        assertEquals(t0 + 2 * slide, s.values(ITEM)[end]);
        assertEquals(t0 + 2 * slide, s.wakeUpAt(ITEM));
        // the window (30 min) moves on: the first event leaves it once the end passes t0 + 30 min + slide
        assertTrue(s.advanceTo(ITEM, t0 + 6 * slide + 1));
        assertEquals(t0 + 7 * slide, s.values(ITEM)[end]);
        assertEquals(1L, s.values(ITEM)[count]);
        assertTrue(s.advanceTo(ITEM, Long.MAX_VALUE));
        assertEquals(0L, s.values(ITEM)[count]);
        assertEquals(t0 + 2 * slide + 1_800_000, s.values(ITEM)[end]);
        assertEquals(Long.MAX_VALUE, s.wakeUpAt(ITEM));
    }

    @Test
    void versionsOnlyGrow() {
        EntityState s = EntityState.create(USER, SPEC.genres.length);
        s.accept(USER, new Event(T, "a", "u", "i1", 2), GENRES, Long.MIN_VALUE);
        assertEquals(T, s.nextVersion());
        s.accept(USER, new Event(T - 5, "b", "u", "i1", 2), GENRES, Long.MIN_VALUE);
        assertEquals(T + 1, s.nextVersion());
        s.accept(USER, new Event(T + 100, "c", "u", "i1", 2), GENRES, Long.MIN_VALUE);
        assertEquals(T + 100, s.nextVersion());
    }
}
