package io.hybridrec.streaming;

import org.apache.flink.table.functions.ScalarFunction;

/**
 * {@code event_time_ms} (field 6, varint) of a serialized {@code hybridrec.v1.InteractionEvent}, read straight
 * from the protobuf wire format in the JVM.
 *
 * <p>Why this exists: watermarks must be generated inside the Kafka source, per partition, or a backlog read
 * (restart, replay) interleaves partitions in large chunks and most events look late. Python cannot run in
 * the source, so this tiny parser gives the source the event time without decoding the whole message. Full
 * decoding and validation stay in Python ({@code hybridrec.events.decode}).
 *
 * <p>Returns 0 for anything that is not a usable event time (undecodable bytes, missing field, a time further
 * in the future than {@code maxFutureSkewMs}), so a bad record can never push the watermark forward; the
 * Python validation later sends such records to the dead-letter topic.
 */
public class ProtoEventTime extends ScalarFunction {
    private static final int EVENT_TIME_FIELD = 6;

    public long eval(byte[] payload, long maxFutureSkewMs) {
        if (payload == null) {
            return 0L;
        }
        long time = parse(payload);
        return time > System.currentTimeMillis() + maxFutureSkewMs ? 0L : Math.max(time, 0L);
    }

    static long parse(byte[] b) {
        int[] pos = {0};
        long found = 0L;
        try {
            while (pos[0] < b.length) {
                long tag = varint(b, pos);
                int field = (int) (tag >>> 3);
                int wireType = (int) (tag & 7);
                switch (wireType) {
                    case 0: {
                        long v = varint(b, pos);
                        if (field == EVENT_TIME_FIELD) {
                            found = v; // last occurrence wins, as in protobuf parsing
                        }
                        break;
                    }
                    case 1: pos[0] += 8; break;
                    case 2: {
                        long len = varint(b, pos);
                        if (len < 0 || len > b.length) {
                            return 0L;
                        }
                        pos[0] += (int) len;
                        break;
                    }
                    case 5: pos[0] += 4; break;
                    default: return 0L;
                }
            }
            return pos[0] == b.length ? found : 0L;
        } catch (ArrayIndexOutOfBoundsException e) {
            return 0L;
        }
    }

    private static long varint(byte[] b, int[] pos) {
        long result = 0L;
        for (int shift = 0; shift < 64; shift += 7) {
            byte x = b[pos[0]++];
            result |= (long) (x & 0x7F) << shift;
            if ((x & 0x80) == 0) {
                return result;
            }
        }
        throw new ArrayIndexOutOfBoundsException("varint too long");
    }
}
