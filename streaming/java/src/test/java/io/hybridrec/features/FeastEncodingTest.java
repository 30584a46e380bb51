package io.hybridrec.features;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The byte layouts Feast reads; the Python test compares whole snapshots with Feast's protobuf classes. */
class FeastEncodingTest {
    @Test
    void timestampRoundTripsThroughTheStoredField() {
        for (long ms : new long[] {0L, 1L, 999L, 1_000L, 1_700_000_000_123L}) {
            assertEquals(ms * 1_000_000L, FeastEncoding.timestampNanos(FeastEncoding.timestamp(ms)));
        }
        assertArrayEquals(new byte[0], FeastEncoding.timestamp(0L));
        assertEquals(0L, FeastEncoding.timestampNanos(null));
    }

    @Test
    void int64ValueIsTagFourVarint() {
        FeastEncoding.Buf b = new FeastEncoding.Buf();
        FeastEncoding.value(b, "Int64", 300L);
        assertArrayEquals(new byte[] {0x20, (byte) 0xac, 0x02}, b.toArray());
    }
}
