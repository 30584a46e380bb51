package io.hybridrec.features;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;

import org.junit.jupiter.api.Test;

/** The batch layer's fold of one entity gives, after each event, the features the operator's state holds then. */
class SnapshotFoldTest {
    private static final String TEXT = TestSpecs.text();
    private static final FreshSpec SPEC = TestSpecs.spec();
    private static final FreshSpec.View USER = SPEC.views[0];
    private static final Genres GENRES = TestSpecs.genres(SPEC);
    private static final Map<String, String> CATALOG = Map.of("i1", "Action", "i2", "Funny", "i3", "Action,Comedy");
    private static final String FIELDS = "session_start_ms,session_genres,recent_items,counts_1h,taste_genres";
    /** Features that do not depend on arrival order even in the last bit (a decayed sum's rounding does). */
    private static final String EXACT_FIELDS = "session_start_ms,session_items,session_genres,recent_items,counts_1h";
    private static final long T = 1_700_000_000_000L;

    private static String hex(String s) {
        return FreshSpec.hex(s.getBytes(StandardCharsets.UTF_8));
    }

    private static String line(Event e) {
        StringBuilder genres = new StringBuilder();
        String names = CATALOG.get(e.itemId);
        if (names != null) {
            for (String g : names.split(",")) {
                genres.append(genres.length() > 0 ? "," : "").append(hex(g));
            }
        }
        return e.timeMs + " " + hex(e.eventId) + " " + hex(e.itemId) + " " + e.type + " " + genres;
    }

    private static String lines(List<Event> events) {
        StringBuilder out = new StringBuilder();
        for (Event e : events) {
            out.append(line(e)).append('\n');
        }
        return out.toString();
    }

    /** What the operator's state holds after {@code arrivals} (any order within the lateness bound), as JSON. */
    private static String operatorLine(String fields, Event newest, List<Event> arrivals) {
        EntityState s = EntityState.create(USER, SPEC.genres.length);
        for (Event e : arrivals) {
            assertEquals(-1L, s.accept(USER, e, GENRES, Long.MIN_VALUE), () -> "late: " + e);
        }
        Object[] values = s.values(USER);
        StringBuilder out = new StringBuilder("{\"state_ms\":" + newest.timeMs + ",\"event_id\":\"" + newest.eventId
            + "\",\"features\":{");
        String[] names = fields.split(",");
        for (int i = 0; i < names.length; i++) {
            out.append(i > 0 ? "," : "").append('"').append(names[i]).append("\":");
            SnapshotFold.Json.value(out, values[USER.fieldIndex(names[i])]);
        }
        return out.append("}}").toString();
    }

    private static List<Event> events(long seed, int n) {
        Random rng = new Random(seed);
        List<Event> out = new ArrayList<>();
        long t = T;
        for (int k = 0; k < n; k++) {
            t += new long[] {0, 1_000, 120_000, 700_000}[rng.nextInt(4)];  // 700 s > the 600 s gap: sessions split
            out.add(new Event(t, String.format("e%03d", rng.nextInt(1000)) + k, "", "i" + (1 + rng.nextInt(4)),
                1 + rng.nextInt(7)));
        }
        return out;
    }

    @Test
    void afterEachEventTheFeaturesTheOperatorHoldsWhateverTheInputOrder() {
        for (long seed = 0; seed < 10; seed++) {
            List<Event> ordered = events(seed, 40);
            Collections.sort(ordered);
            List<Event> shuffled = new ArrayList<>(ordered);
            Collections.shuffle(shuffled, new Random(seed));
            String[] got = SnapshotFold.fold(TEXT, "user_fresh", FIELDS, lines(shuffled)).split("\n");
            String[] exact = SnapshotFold.fold(TEXT, "user_fresh", EXACT_FIELDS, lines(shuffled)).split("\n");
            assertEquals(ordered.size(), got.length);
            for (int k = 0; k < ordered.size(); k++) {
                List<Event> inOrder = ordered.subList(0, k + 1);
                assertEquals(operatorLine(FIELDS, ordered.get(k), inOrder), got[k], "seed " + seed + " event " + k);
                // the operator saw the events up to this one out of order (swapped neighbours within the bound)
                List<Event> arrivals = new ArrayList<>(ordered.subList(0, k + 1));
                for (int i = 1; i < arrivals.size(); i += 2) {
                    if (arrivals.get(i).timeMs - arrivals.get(i - 1).timeMs < TestSpecs.LATENESS_MS) {
                        Collections.swap(arrivals, i, i - 1);
                    }
                }
                assertEquals(operatorLine(EXACT_FIELDS, ordered.get(k), arrivals), exact[k], "seed " + seed + " event " + k);
            }
        }
    }

    @Test
    void aGapLongerThanTheSessionGapStartsANewSession() {
        List<Event> events = List.of(
            new Event(T + TestSpecs.GAP_MS + 1, "c", "", "i2", 2),   // more than the gap after b: a new session
            new Event(T, "a", "", "i1", 2),
            new Event(T + 1, "b", "", "i9", 7),                      // a HIDE: not in the session's types
            new Event(T + TestSpecs.GAP_MS + 1, "b2", "", "i3", 3)); // same time as c, ordered by event id
        String[] got = SnapshotFold.fold(TEXT, "user_fresh", "session_start_ms,session_items,session_genres",
            lines(events)).split("\n");
        String at = String.valueOf(T + TestSpecs.GAP_MS + 1);
        assertEquals("{\"state_ms\":" + T + ",\"event_id\":\"a\",\"features\":{\"session_start_ms\":" + T
            + ",\"session_items\":[\"i1\"],\"session_genres\":[1.0,0.0,0.0]}}", got[0]);
        assertEquals("{\"state_ms\":" + (T + 1) + ",\"event_id\":\"b\",\"features\":{\"session_start_ms\":" + T
            + ",\"session_items\":[\"i1\"],\"session_genres\":[1.0,0.0,0.0]}}", got[1]);
        // a's session is over: b2 (Action, Comedy) starts the next one, c (Funny = Comedy) joins it
        assertEquals("{\"state_ms\":" + at + ",\"event_id\":\"b2\",\"features\":{\"session_start_ms\":" + at
            + ",\"session_items\":[\"i3\"],\"session_genres\":[0.5,0.5,0.0]}}", got[2]);
        assertEquals("{\"state_ms\":" + at + ",\"event_id\":\"c\",\"features\":{\"session_start_ms\":" + at
            + ",\"session_items\":[\"i3\",\"i2\"],\"session_genres\":[0.25,0.75,0.0]}}", got[3]);
    }

    @Test
    void stringsAreEscapedAndUnknownItemsCountAsOther() {
        String item = "q\"\\\n\u00e9";
        String got = SnapshotFold.fold(TEXT, "user_fresh", "recent_items,session_genres",
            T + " " + hex("x") + " " + hex(item) + " 2 \n");
        assertEquals("{\"state_ms\":" + T + ",\"event_id\":\"x\",\"features\":{\"recent_items\":[\"q\\\"\\\\\\u000a\u00e9\"],"
            + "\"session_genres\":[0.0,0.0,1.0]}}\n", got);
    }

    @Test
    void badInputIsAClearError() {
        String events = T + " " + hex("x") + " " + hex("i1") + " 2 \n";
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> SnapshotFold.fold(TEXT, "user_fresh", "nope", events));
        assertTrue(e.getMessage().contains("no feature nope"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> SnapshotFold.fold(TEXT, "user_fresh", "recent_items", "1 2\n"));
        assertEquals("", SnapshotFold.fold(TEXT, "user_fresh", "recent_items", ""));
    }
}
