package io.hybridrec.streaming;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

import hybridrec.v1.Events.InteractionEvent;

class ProtoEventTimeTest {
    @Test
    void readsTheEventTimeAndOnlyThat() {
        long now = System.currentTimeMillis();
        byte[] raw = InteractionEvent.newBuilder().setEventId("e").setUserId("u").setEventTimeMs(now - 5).setValue(2.0)
            .build().toByteArray();
        assertEquals(now - 5, ProtoEventTime.parse(raw));
        assertEquals(now - 5, new ProtoEventTime().eval(raw, 0L));
        byte[] twice = InteractionEvent.newBuilder().setEventTimeMs(7).build().toByteArray();
        byte[] both = new byte[raw.length + twice.length];
        System.arraycopy(raw, 0, both, 0, raw.length);
        System.arraycopy(twice, 0, both, raw.length, twice.length);
        assertEquals(7, ProtoEventTime.parse(both));  // last occurrence wins
    }

    @Test
    void anythingUnusableIsZeroSoItNeverMovesTheWatermark() {
        assertEquals(0, new ProtoEventTime().eval(null, 0L));
        assertEquals(0, ProtoEventTime.parse(new byte[] {(byte) 0xff, (byte) 0xff}));
        byte[] future = InteractionEvent.newBuilder().setEventTimeMs(System.currentTimeMillis() + 60_000).build()
            .toByteArray();
        assertEquals(0, new ProtoEventTime().eval(future, 1_000L));
        byte[] negative = InteractionEvent.newBuilder().setEventTimeMs(-4).build().toByteArray();
        assertEquals(0, new ProtoEventTime().eval(negative, 0L));
    }
}
