package io.hybridrec.streaming;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

import org.junit.jupiter.api.Test;

import hybridrec.v1.Events.Device;
import hybridrec.v1.Events.EventType;
import hybridrec.v1.Events.InteractionEvent;

/** The decoder's rules in the order of {@code hybridrec/events.py} (parity with Python: test_proto_decode.py). */
class ProtoDecodeTest {
    private static final long NOW = 1_800_000_000_000L;
    private static final int MAX_PAYLOAD = 16_384;
    private static final int MAX_ID = 128;
    private static final long MIN_TIME = 631_152_000_000L;
    private static final long SKEW = 300_000L;

    private static InteractionEvent.Builder good() {
        return InteractionEvent.newBuilder().setEventId("e1").setUserId("u1").setItemId("i1")
            .setEventType(EventType.RATING).setValue(4.0).setEventTimeMs(NOW - 1_000).setDevice(Device.TV);
    }

    private static String reason(byte[] key, byte[] payload) {
        return ProtoDecode.check(key, payload, MAX_PAYLOAD, MAX_ID, MIN_TIME, SKEW, NOW).reason;
    }

    private static String reason(InteractionEvent.Builder b) {
        return reason(b.getUserId().getBytes(StandardCharsets.UTF_8), b.build().toByteArray());
    }

    @Test
    void validEventKeepsEveryField() {
        InteractionEvent e = good().setSurface("home").setPosition(3).setCountry("NL").build();
        ProtoDecode.Decoded d = ProtoDecode.check(null, e.toByteArray(), MAX_PAYLOAD, MAX_ID, MIN_TIME, SKEW, NOW);
        assertNull(d.reason);
        assertEquals(e, d.event);
    }

    @Test
    void rulesInTheOrderOfThePythonValidator() {
        assertEquals("missing_event_id", reason(good().setEventId("").setUserId("")));
        assertEquals("missing_user_id", reason(good().setUserId("").setEventTypeValue(0)));
        assertEquals("id_too_long", reason(good().setItemId("é".repeat(129)).setEventTypeValue(0)));
        assertNull(reason(good().setItemId("é".repeat(128))));  // code points, not UTF-16 units or bytes
        assertEquals("missing_event_type", reason(good().setEventTypeValue(0).setDeviceValue(42)));
        assertEquals("unknown_event_type", reason(good().setEventTypeValue(8)));
        assertEquals("unknown_device", reason(good().setDeviceValue(9).setEventTimeMs(0)));
        assertEquals("event_time_too_old", reason(good().setEventTimeMs(MIN_TIME - 1)));
        assertEquals("event_time_in_future", reason(good().setEventTimeMs(NOW + SKEW + 1)));
        assertNull(reason(good().setEventTimeMs(NOW + SKEW)));
        assertEquals("non_finite_value", reason(good().setValue(Double.NaN)));
        assertEquals("rating_out_of_range", reason(good().setValue(5.5)));
        assertEquals("thumbs_not_plus_minus_one", reason(good().setEventType(EventType.THUMBS).setValue(0.0)));
        assertEquals("key_not_user_id", reason("u2".getBytes(StandardCharsets.UTF_8), good().build().toByteArray()));
        assertEquals("oversized_payload", reason(null, new byte[MAX_PAYLOAD + 1]));
    }

    @Test
    void wireFormatAsTheProtobufRuntimeReadsIt() throws Exception {
        byte[] raw = good().build().toByteArray();
        // an unknown field of every wire type, and a known field with the wrong wire type: skipped
        for (byte[] extra : new byte[][] {{(byte) 0xa0, 0x06, 0x01}, {(byte) 0xad, 0x06, 0, 0, 0, 0}, {0x0d, 0, 0, 0, 0}}) {
            assertNull(reason(null, concat(raw, extra)), () -> "extra " + java.util.Arrays.toString(extra));
        }
        // the last occurrence wins
        InteractionEvent later = ProtoDecode.parse(concat(raw, InteractionEvent.newBuilder().setItemId("i9").build()
            .toByteArray()));
        assertEquals("i9", later.getItemId());
        assertEquals("u1", later.getUserId());
        // invalid UTF-8, a truncated record, an over-long (> 32 bit) tag, a stray end-group tag
        assertEquals("undecodable", reason(null, concat(raw, new byte[] {0x0a, 0x02, (byte) 0xc3, 0x28})));
        assertEquals("undecodable", reason(null, java.util.Arrays.copyOf(raw, raw.length - 3)));
        assertEquals("undecodable", reason(null, concat(raw, new byte[] {(byte) 0x89, (byte) 0xb0, (byte) 0x83,
            (byte) 0xb1, (byte) 0x9f, (byte) 0xa3, 0x34, 0, 0, 0, 0, 0, 0, 0, 0})));
        assertEquals("undecodable", reason(null, concat(raw, new byte[] {0x0c})));
    }

    @Test
    void sha256OfTheRawBytes() {
        assertEquals("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", ProtoDecode.sha256(null));
    }

    private static byte[] concat(byte[] a, byte[] b) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(a);
        out.writeBytes(b);
        return out.toByteArray();
    }
}
