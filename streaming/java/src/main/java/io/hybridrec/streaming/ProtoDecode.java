package io.hybridrec.streaming;

import java.io.IOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;

import org.apache.flink.metrics.Counter;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.TableFunction;
import org.apache.flink.types.Row;

import hybridrec.v1.Events.Device;
import hybridrec.v1.Events.EventType;
import hybridrec.v1.Events.InteractionEvent;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.WireFormat;

/**
 * Decodes and validates a serialized {@code hybridrec.v1.InteractionEvent} in the JVM: one output row per
 * Kafka record, the event's columns plus {@code reason} (NULL when valid, else the dead-letter reason).
 *
 * <p>Why: in Python, decoding was one interpreter call per event and the largest single cost of the job. The
 * rules and reason strings are those of {@code hybridrec/events.py} (checked in the same order); the unit test
 * {@code tests/unit/streaming/test_proto_decode.py} holds the two equal over a malformed corpus. Field numbers and
 * enums are those of the classes generated from {@code protos/hybridrec_pb/events.proto} at build time.
 */
@FunctionHint(output = @DataTypeHint(
    "ROW<event_id STRING, user_id STRING, item_id STRING, event_type STRING, event_type_num INT, "
        + "`value` DOUBLE, event_time_ms BIGINT, surface STRING, `position` INT, request_id STRING, "
        + "`variant` STRING, device STRING, country STRING, reason STRING, detail STRING, checked_at_ms BIGINT, "
        + "sha256 STRING, payload_size INT>"))
public class ProtoDecode extends TableFunction<Row> {
    private static final long serialVersionUID = 1L;

    private transient Counter valid;
    private transient Counter rejected;

    @Override
    public void open(FunctionContext context) {
        valid = context.getMetricGroup().counter("events_valid");
        rejected = context.getMetricGroup().counter("events_dead_lettered");
    }

    public void eval(byte[] key, byte[] payload, Integer maxPayloadBytes, Integer maxIdLength,
                     Long minEventTimeMs, Long maxFutureSkewMs) {
        long now = System.currentTimeMillis();
        Decoded d = check(key, payload, maxPayloadBytes, maxIdLength, minEventTimeMs, maxFutureSkewMs, now);
        if (d.reason == null) {
            if (valid != null) {
                valid.inc();
            }
            InteractionEvent e = d.event;
            collect(Row.of(e.getEventId(), e.getUserId(), e.getItemId(), e.getEventType().name(),
                e.getEventTypeValue(), e.getValue(), e.getEventTimeMs(), e.getSurface(), e.getPosition(),
                e.getRequestId(), e.getVariant(), e.getDevice().name(), e.getCountry(), null, null, now, null,
                null));
        } else {
            if (rejected != null) {
                rejected.inc();
            }
            collect(Row.of(null, null, null, null, null, null, null, null, null, null, null, null, null,
                d.reason, d.detail, now, sha256(payload), payload == null ? 0 : payload.length));
        }
    }

    /** A record's verdict: the event when valid, else the dead-letter reason and a detail text. */
    static final class Decoded {
        final InteractionEvent event;
        final String reason;
        final String detail;

        Decoded(InteractionEvent event, String reason, String detail) {
            this.event = event;
            this.reason = reason;
            this.detail = detail;
        }
    }

    static Decoded check(byte[] key, byte[] payload, int maxPayloadBytes, int maxIdLength, long minEventTimeMs,
                         long maxFutureSkewMs, long nowMs) {
        if (payload == null) {
            payload = new byte[0];
        }
        if (payload.length > maxPayloadBytes) {
            return new Decoded(null, "oversized_payload", payload.length + " bytes > " + maxPayloadBytes);
        }
        InteractionEvent e;
        try {
            e = parse(payload);
        } catch (IOException ex) {
            return new Decoded(null, "undecodable", String.valueOf(ex.getMessage()));
        }
        String reason = validate(e, maxIdLength, minEventTimeMs, maxFutureSkewMs, nowMs);
        if (reason != null) {
            return new Decoded(null, reason, "");
        }
        if (key != null && !Arrays.equals(key, e.getUserIdBytes().toByteArray())) {
            return new Decoded(null, "key_not_user_id", "key does not equal user_id");
        }
        return new Decoded(e, null, null);
    }

    /**
     * The wire format read with the protobuf runtime's primitives, as the Python runtime reads it: unknown fields
     * (and known fields with another wire type) skipped, the last occurrence of a field wins, strings must be
     * UTF-8. Tags are read as 64-bit varints and must fit 32 bits with a field number: the Java runtime's own
     * {@code parseFrom} would accept an over-long tag by dropping its high bits, where Python rejects the record.
     */
    static InteractionEvent parse(byte[] payload) throws IOException {
        CodedInputStream in = CodedInputStream.newInstance(payload);
        InteractionEvent.Builder b = InteractionEvent.newBuilder();
        while (!in.isAtEnd()) {
            long rawTag = in.readRawVarint64();
            int tag = (int) rawTag;
            if (rawTag != (rawTag & 0xFFFFFFFFL) || WireFormat.getTagFieldNumber(tag) == 0) {
                throw new InvalidProtocolBufferException("invalid tag");
            }
            int wireType = WireFormat.getTagWireType(tag);
            boolean varint = wireType == WireFormat.WIRETYPE_VARINT;
            boolean bytes = wireType == WireFormat.WIRETYPE_LENGTH_DELIMITED;
            switch (WireFormat.getTagFieldNumber(tag)) {
                case InteractionEvent.EVENT_ID_FIELD_NUMBER:
                    if (bytes) { b.setEventId(in.readStringRequireUtf8()); continue; }
                    break;
                case InteractionEvent.USER_ID_FIELD_NUMBER:
                    if (bytes) { b.setUserId(in.readStringRequireUtf8()); continue; }
                    break;
                case InteractionEvent.ITEM_ID_FIELD_NUMBER:
                    if (bytes) { b.setItemId(in.readStringRequireUtf8()); continue; }
                    break;
                case InteractionEvent.EVENT_TYPE_FIELD_NUMBER:
                    if (varint) { b.setEventTypeValue(in.readEnum()); continue; }
                    break;
                case InteractionEvent.VALUE_FIELD_NUMBER:
                    if (wireType == WireFormat.WIRETYPE_FIXED64) { b.setValue(in.readDouble()); continue; }
                    break;
                case InteractionEvent.EVENT_TIME_MS_FIELD_NUMBER:
                    if (varint) { b.setEventTimeMs(in.readInt64()); continue; }
                    break;
                case InteractionEvent.SURFACE_FIELD_NUMBER:
                    if (bytes) { b.setSurface(in.readStringRequireUtf8()); continue; }
                    break;
                case InteractionEvent.POSITION_FIELD_NUMBER:
                    if (varint) { b.setPosition(in.readInt32()); continue; }
                    break;
                case InteractionEvent.REQUEST_ID_FIELD_NUMBER:
                    if (bytes) { b.setRequestId(in.readStringRequireUtf8()); continue; }
                    break;
                case InteractionEvent.VARIANT_FIELD_NUMBER:
                    if (bytes) { b.setVariant(in.readStringRequireUtf8()); continue; }
                    break;
                case InteractionEvent.DEVICE_FIELD_NUMBER:
                    if (varint) { b.setDeviceValue(in.readEnum()); continue; }
                    break;
                case InteractionEvent.COUNTRY_FIELD_NUMBER:
                    if (bytes) { b.setCountry(in.readStringRequireUtf8()); continue; }
                    break;
                default:
                    break;
            }
            if (!in.skipField(tag)) {
                throw new InvalidProtocolBufferException("end-group tag outside a group");
            }
        }
        return b.build();
    }

    static String validate(InteractionEvent e, int maxIdLength, long minEventTimeMs, long maxFutureSkewMs,
                           long nowMs) {
        if (e.getEventId().isEmpty()) {
            return "missing_event_id";
        }
        if (e.getUserId().isEmpty()) {
            return "missing_user_id";
        }
        if (e.getItemId().isEmpty()) {
            return "missing_item_id";
        }
        if (chars(e.getEventId()) > maxIdLength || chars(e.getUserId()) > maxIdLength
                || chars(e.getItemId()) > maxIdLength) {
            return "id_too_long";
        }
        if (e.getEventTypeValue() == EventType.EVENT_TYPE_UNSPECIFIED_VALUE) {
            return "missing_event_type";
        }
        if (e.getEventType() == EventType.UNRECOGNIZED) {
            return "unknown_event_type";
        }
        if (e.getDevice() == Device.UNRECOGNIZED) {
            return "unknown_device";
        }
        if (e.getEventTimeMs() < minEventTimeMs) {
            return "event_time_too_old";
        }
        if (e.getEventTimeMs() > nowMs + maxFutureSkewMs) {
            return "event_time_in_future";
        }
        double value = e.getValue();
        if (Double.isNaN(value) || Double.isInfinite(value)) {
            return "non_finite_value";
        }
        if (e.getEventType() == EventType.RATING && !(value >= 0.5 && value <= 5.0)) {
            return "rating_out_of_range";
        }
        if (e.getEventType() == EventType.THUMBS && value != 1.0 && value != -1.0) {
            return "thumbs_not_plus_minus_one";
        }
        return null;
    }

    /** Python's len(str) counts code points. */
    private static int chars(String s) {
        return s.codePointCount(0, s.length());
    }

    static String sha256(byte[] payload) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(payload == null ? new byte[0] : payload);
            StringBuilder s = new StringBuilder(64);
            for (byte x : d) {
                s.append(Character.forDigit((x >> 4) & 0xF, 16)).append(Character.forDigit(x & 0xF, 16));
            }
            return s.toString();
        } catch (NoSuchAlgorithmException ex) {
            throw new IllegalStateException(ex);
        }
    }
}
