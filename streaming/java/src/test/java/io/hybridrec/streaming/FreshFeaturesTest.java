package io.hybridrec.streaming;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.runtime.state.VoidNamespaceSerializer;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.apache.flink.types.Row;
import org.junit.jupiter.api.Test;

import io.hybridrec.features.FeastEncoding;
import io.hybridrec.features.FreshSpec;
import io.hybridrec.features.TestSpecs;

/**
 * The operator in Flink's test harness (keyed state, both timer domains, snapshot and restore): snapshots at the flush
 * boundary, state continuing across a restore, state of the previous operator taken over, late events dead-lettered,
 * trending falling with the watermark.
 */
class FreshFeaturesTest {
    private static final String SPEC_TEXT = TestSpecs.text();
    private static final FreshSpec SPEC = FreshSpec.parse(SPEC_TEXT);
    private static final long T = 1_700_000_000_000L;

    private static KeyedOneInputStreamOperatorTestHarness<String, Row, Row> harness(OperatorSubtaskState restore)
            throws Exception {
        KeyedOneInputStreamOperatorTestHarness<String, Row, Row> h = new KeyedOneInputStreamOperatorTestHarness<>(
            FreshFeatures.operator(SPEC_TEXT), FreshFeatures.keySelector(SPEC_TEXT), Types.STRING);
        if (restore != null) {
            h.initializeState(restore);
        }
        h.open();
        return h;
    }

    private static Row event(int view, String entity, String user, String id, String item, int type, long time) {
        return Row.of(view, entity, user, id, item, type, time);
    }

    /** Snapshots emitted so far, by entity: the feature values decoded from the payload. */
    private static Map<String, Map<String, byte[]>> snapshots(KeyedOneInputStreamOperatorTestHarness<String, Row, Row> h) {
        Map<String, Map<String, byte[]>> out = new HashMap<>();
        for (Row r : h.extractOutputValues()) {
            FreshSpec.View view = SPEC.view((String) r.getField(0));
            FeastEncoding.Hash hash = FeastEncoding.readPayload((byte[]) r.getField(3));
            Map<String, byte[]> fields = new HashMap<>();
            for (Map.Entry<byte[], byte[]> f : hash.fields.entrySet()) {
                for (FreshSpec.Field field : view.fields) {
                    if (Arrays.equals(field.hash, f.getKey())) {
                        fields.put(field.name, f.getValue());
                    }
                }
            }
            fields.put("_version", Long.toString((Long) r.getField(2)).getBytes(StandardCharsets.UTF_8));
            out.put(r.getField(0) + ":" + r.getField(1), fields);
        }
        return out;
    }

    /** An Array(String) value's strings (field 12 of feast.types.Value holds a StringList of field-1 strings). */
    private static List<String> strings(byte[] value) {
        List<String> out = new ArrayList<>();
        int i = 2 + (value.length > 1 && (value[1] & 0x80) != 0 ? 1 : 0);
        while (i < value.length) {
            int len = value[i + 1];
            out.add(new String(value, i + 2, len, StandardCharsets.UTF_8));
            i += 2 + len;
        }
        return out;
    }

    private static long int64(byte[] value) {
        long v = 0;
        for (int i = 1, shift = 0; i < value.length; i++, shift += 7) {
            v |= (long) (value[i] & 0x7F) << shift;
        }
        return v;
    }

    @Test
    void snapshotsAtTheFlushBoundaryAndStateSurvivesARestore() throws Exception {
        KeyedOneInputStreamOperatorTestHarness<String, Row, Row> h = harness(null);
        h.setProcessingTime(1_000);
        h.processElement(new StreamRecord<>(event(0, "u1", "u1", "e1", "i1", 2, T)));
        h.processElement(new StreamRecord<>(event(0, "u1", "u1", "e2", "i2", 7, T + 10)));
        assertTrue(h.extractOutputValues().isEmpty(), "nothing before the flush boundary");
        h.setProcessingTime(1_100);
        Map<String, byte[]> u1 = snapshots(h).get("user_fresh:u1");
        assertEquals(1, h.extractOutputValues().size(), "two events of one user: one snapshot");
        assertEquals(List.of("i1"), strings(u1.get("recent_items")));
        assertEquals(List.of("i2"), strings(u1.get("hidden_items")));
        assertEquals(T + 10, int64(u1.get("last_event_ms")));

        OperatorSubtaskState saved = h.snapshot(1L, 1_100);
        h.close();
        KeyedOneInputStreamOperatorTestHarness<String, Row, Row> restored = harness(saved);
        restored.setProcessingTime(2_000);
        restored.processElement(new StreamRecord<>(event(0, "u1", "u1", "e3", "i3", 3, T + 20)));
        restored.setProcessingTime(2_100);
        u1 = snapshots(restored).get("user_fresh:u1");
        assertEquals(List.of("i3", "i1"), strings(u1.get("recent_items")));
        assertEquals(List.of("i2"), strings(u1.get("hidden_items")), "hidden items survive the restore");
        assertEquals(Long.toString(T + 20), new String(u1.get("_version"), StandardCharsets.UTF_8));
        restored.close();
    }

    @Test
    void theEndOfABoundedInputEmitsEveryChangedEntity() throws Exception {
        KeyedOneInputStreamOperatorTestHarness<String, Row, Row> h = harness(null);
        h.setProcessingTime(1_000);
        h.processElement(new StreamRecord<>(event(0, "u1", "u1", "e1", "i1", 2, T)));
        h.processElement(new StreamRecord<>(event(0, "u2", "u2", "e2", "i2", 2, T + 10)));
        h.setProcessingTime(1_100);
        assertEquals(2, h.extractOutputValues().size(), "u1 and u2 at the flush boundary");
        h.processElement(new StreamRecord<>(event(0, "u3", "u3", "e3", "i3", 2, T + 20)));
        h.processElement(new StreamRecord<>(event(0, "u3", "u3", "e4", "i4", 2, T + 30)));
        assertEquals(2, h.extractOutputValues().size(), "u3 waits for the next boundary");
        h.endInput();
        assertEquals(3, h.extractOutputValues().size(), "the end of input emits u3 alone (u1, u2 unchanged since)");
        assertEquals(List.of("i4", "i3"), strings(snapshots(h).get("user_fresh:u3").get("recent_items")));
        h.close();
    }

    @Test
    void takesOverTheStateOfTheMicroWindowOperator() throws Exception {
        Map<String, byte[]> legacy = new HashMap<>();
        for (String line : new String(FreshFeaturesTest.class.getResourceAsStream("/legacy-state-af04c54.txt")
                .readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
            if (!line.isEmpty() && !line.startsWith("#")) {
                String[] p = line.split(" ");
                legacy.put(p[0] + " " + p[1], FreshSpec.bytes(p[2]));
            }
        }
        KeyedOneInputStreamOperatorTestHarness<String, Row, Row> h = harness(null);
        // the previous operator's keyed state, under its descriptor and its key (kind 'u' + user id; same uid)
        h.getOperator().getKeyedStateBackend().setCurrentKey("uu1");
        h.getOperator().getKeyedStateBackend().getPartitionedState(VoidNamespace.INSTANCE,
            VoidNamespaceSerializer.INSTANCE,
            new ValueStateDescriptor<>("entity-features", PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO))
            .update(legacy.get("user u1"));
        OperatorSubtaskState saved = h.snapshot(1L, 0);
        h.close();

        KeyedOneInputStreamOperatorTestHarness<String, Row, Row> restored = harness(saved);
        restored.setProcessingTime(5_000);
        restored.processElement(new StreamRecord<>(event(0, "u1", "u1", "n1", "i1", 7, T + 3_700_000)));
        restored.setProcessingTime(5_100);
        Map<String, byte[]> u1 = snapshots(restored).get("user_fresh:u1");
        assertEquals(List.of("i1", "i2", "i3"), strings(u1.get("hidden_items")));
        assertEquals(List.of("i2", "i2", "i1"), strings(u1.get("recent_items")));
        restored.close();
    }

    @Test
    void aLateEventIsDeadLetteredAndChangesNothing() throws Exception {
        KeyedOneInputStreamOperatorTestHarness<String, Row, Row> h = harness(null);
        h.setProcessingTime(1_000);
        h.processElement(new StreamRecord<>(event(0, "u1", "u1", "e1", "i1", 2, T)));
        h.processElement(new StreamRecord<>(event(0, "u1", "u1", "old", "i9", 2, T - TestSpecs.LATENESS_MS - 1)));
        h.setProcessingTime(1_100);
        assertEquals(List.of("i1"), strings(snapshots(h).get("user_fresh:u1").get("recent_items")));
        List<StreamRecord<Row>> late = new ArrayList<>(h.getSideOutput(FreshFeatures.LATE));
        assertEquals(1, late.size());
        Row dead = late.get(0).getValue();
        assertEquals("late_event", dead.getField(2));
        assertArrayEqualsUtf8("u1", (byte[]) dead.getField(0));
        assertTrue(((String) dead.getField(3)).contains((TestSpecs.LATENESS_MS + 1) + " ms behind"));
        h.close();
    }

    @Test
    void trendingFallsWhenTheWatermarkPassesItsWindow() throws Exception {
        KeyedOneInputStreamOperatorTestHarness<String, Row, Row> h = harness(null);
        long t0 = T - T % 300_000;
        h.setProcessingTime(1_000);
        h.processElement(new StreamRecord<>(event(1, "i1", "u1", "e1", "i1", 2, t0 + 5)));
        h.processElement(new StreamRecord<>(event(1, "i1", "u2", "e2", "i1", 2, t0 + 6)));
        h.setProcessingTime(1_100);
        assertEquals(2L, int64(snapshots(h).get("item_fresh:i1").get("trending_1h")));
        h.getOutput().clear();
        h.processWatermark(t0 + 1_800_000 + 300_000);  // past the window's last slide: the events are out of it
        Map<String, byte[]> i1 = snapshots(h).get("item_fresh:i1");
        assertEquals(0L, int64(i1.get("trending_1h")));
        assertEquals(t0 + 300_000 + 1_800_000, int64(i1.get("trending_window_end_ms")));
        h.close();
    }

    private static void assertArrayEqualsUtf8(String expected, byte[] got) {
        assertEquals(expected, new String(got, StandardCharsets.UTF_8));
    }
}
