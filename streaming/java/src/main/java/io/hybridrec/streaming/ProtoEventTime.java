package io.hybridrec.streaming;

import org.apache.flink.table.functions.ScalarFunction;

import hybridrec.v1.Events.InteractionEvent;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.WireFormat;

/**
 * {@code event_time_ms} of a serialized {@code hybridrec.v1.InteractionEvent}, read in the Kafka source so that
 * watermarks are generated per partition (a watermark assigned after decoding interleaves partitions, and a
 * backlog read then turns most events late). Only that one field is read; the other fields are skipped
 * undecoded.
 *
 * <p>Returns 0 for anything that is not a usable event time (undecodable bytes, missing field, a time further
 * in the future than {@code maxFutureSkewMs}), so a bad record can never push the watermark forward; the
 * decoder ({@link ProtoDecode}) sends such records to the dead-letter topic.
 */
public class ProtoEventTime extends ScalarFunction {
    private static final long serialVersionUID = 1L;
    private static final int EVENT_TIME_TAG =
        InteractionEvent.EVENT_TIME_MS_FIELD_NUMBER << 3 | WireFormat.WIRETYPE_VARINT;

    public long eval(byte[] payload, long maxFutureSkewMs) {
        if (payload == null) {
            return 0L;
        }
        long time = parse(payload);
        return time > System.currentTimeMillis() + maxFutureSkewMs ? 0L : Math.max(time, 0L);
    }

    /** The last occurrence of the field wins, as in protobuf parsing; 0 when the bytes do not parse. */
    static long parse(byte[] b) {
        CodedInputStream in = CodedInputStream.newInstance(b);
        long found = 0L;
        try {
            for (int tag = in.readTag(); tag != 0; tag = in.readTag()) {
                if (tag == EVENT_TIME_TAG) {
                    found = in.readInt64();
                } else if (!in.skipField(tag)) {
                    return 0L;
                }
            }
            return found;
        } catch (java.io.IOException e) {
            return 0L;
        }
    }
}
