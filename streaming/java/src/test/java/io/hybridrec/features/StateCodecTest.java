package io.hybridrec.features;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;

/**
 * Saved state round-trips, is re-shaped under a changed spec, and a state written in every earlier format (the
 * fixtures {@code entity-state-format<N>.hex}, each written by this code when its format was current) still reads:
 * a change of the layout must keep reading them.
 */
class StateCodecTest {
    private static final FreshSpec SPEC = TestSpecs.spec();
    private static final FreshSpec.View USER = SPEC.views[0];
    private static final long T = 1_700_000_000_000L;

    static EntityState sample() {
        Genres genres = TestSpecs.genres(SPEC);
        EntityState s = EntityState.create(USER, SPEC.genres.length);
        String[] items = {"i1", "i2", "i3", "i2", "i1", "i3", "i2"};
        int[] types = {2, 7, 3, 1, 7, 2, 4};
        for (int k = 0; k < items.length; k++) {
            s.accept(USER, new Event(T + k * 240_000L, "e" + k, "u", items[k], types[k]), genres, 0L);
        }
        s.accept(USER, new Event(T + 1, "late-ish", "u", "i2", 3), genres, 0L);
        s.nextVersion();
        return s;
    }

    static byte[] bytes(EntityState s) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        StateCodec.write(s, new DataOutputStream(out));
        return out.toByteArray();
    }

    static EntityState read(byte[] b) throws IOException {
        return StateCodec.read(new DataInputStream(new ByteArrayInputStream(b)));
    }

    @Test
    void roundTripKeepsEveryFeatureAndTheBuffer() throws IOException {
        EntityState s = sample();
        EntityState back = read(bytes(s));
        assertArrayEquals(bytes(s), bytes(back));
        Object[] a = s.values(USER);
        Object[] b = back.values(USER);
        for (int i = 0; i < a.length; i++) {
            if (a[i] instanceof double[]) {
                assertArrayEquals((double[]) a[i], (double[]) b[i]);
            } else if (a[i] instanceof long[]) {
                assertArrayEquals((long[]) a[i], (long[]) b[i]);
            } else {
                assertEquals(a[i], b[i]);
            }
        }
        assertArrayEquals(bytes(s), bytes(s.copy()));
    }

    private static byte[] fixture(int format) throws IOException {
        try (InputStream in = StateCodecTest.class.getResourceAsStream("/entity-state-format" + format + ".hex")) {
            String text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            return FreshSpec.bytes(text.lines().filter(l -> !l.startsWith("#")).findFirst().orElseThrow().trim());
        }
    }

    @Test
    void formatOneFixtureStillReads() throws IOException {
        EntityState s = read(fixture(1));
        s.conform(USER, SPEC.genres.length);
        Object[] v = s.values(USER);
        assertEquals(List.of("i2", "i3", "i3", "i2", "i1"), v[USER.fieldIndex("recent_items")]);
        assertEquals(List.of("i1", "i2"), v[USER.fieldIndex("hidden_items")]);
        assertEquals(T + 6 * 240_000L, v[USER.fieldIndex("last_event_ms")]);
        assertEquals(T + 6 * 240_000L, s.version);
        // format 1 had no event count: the session's item list was all of it
        Object[] now = sample().values(USER);
        for (String f : List.of("session_items", "session_start_ms")) {
            assertEquals(now[USER.fieldIndex(f)], v[USER.fieldIndex(f)], f);
        }
        assertArrayEquals((double[]) now[USER.fieldIndex("session_genres")], (double[]) v[USER.fieldIndex("session_genres")]);
        s.accept(USER, new Event(T + 7 * 240_000L, "next", "u", "i1", 2), TestSpecs.genres(SPEC), 0L);
        assertEquals(List.of("i3", "i2", "i1"), s.values(USER)[USER.fieldIndex("session_items")]);
    }

    @Test
    void currentFormatIsPinnedByItsFixture() throws IOException {
        assertArrayEquals(bytes(sample()), fixture(StateCodec.FORMAT),
            "format " + StateCodec.FORMAT + " changed: bump StateCodec.FORMAT, keep a reader and add a fixture");
    }

    @Test
    void aStateSavedUnderAnotherSpecIsReshaped() throws IOException {
        EntityState s = read(bytes(sample()));
        // a spec with a new engaged-items list instead of the hidden items
        String hidden = TestSpecs.h("hidden_items");
        String engaged = TestSpecs.h("engaged_items");
        String text = TestSpecs.text()
            .replace("field=0 " + hidden + " ", "field=0 " + engaged + " ")
            .replace("agg=0 distinct_last_n 7 n:3 item_ids:" + hidden,
                "agg=0 distinct_last_n " + TestSpecs.ENGAGEMENT + " n:9 item_ids:" + engaged);
        FreshSpec other = FreshSpec.parse(text);
        FreshSpec.View view = other.views[0];
        s.conform(view, other.genres.length);
        Object[] v = s.values(view);
        assertEquals(List.of(), v[view.fieldIndex("engaged_items")]);  // new: starts empty, sees events from here on
        assertEquals(List.of("i2", "i3", "i3", "i2", "i1"), v[view.fieldIndex("recent_items")]);
        assertEquals(-1, view.fieldIndex("hidden_items"));
        s.accept(view, new Event(T + 2_000_000L, "n", "u", "i1", 2), TestSpecs.genres(other), 0L);
        assertEquals(List.of("i1"), s.values(view)[view.fieldIndex("engaged_items")]);
    }

    @Test
    void anUnknownFormatIsRefused() {
        assertThrows(IOException.class, () -> read(new byte[] {9, 0, 0}));
    }

    /** Writes the current format's fixture (run once, when a format is introduced). */
    public static void main(String[] args) throws IOException {
        Files.writeString(Path.of(args[0]), "# StateCodec format " + StateCodec.FORMAT
            + ": StateCodecTest.sample() written by StateCodec.write\n" + FreshSpec.hex(bytes(sample())) + "\n");
    }
}
