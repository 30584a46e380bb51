package io.hybridrec.streaming;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.metrics.Counter;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.TableFunction;
import org.apache.flink.types.Row;

/**
 * Decodes and validates a serialized {@code hybridrec.v1.InteractionEvent} in the JVM: one output row per
 * Kafka record, the event's columns plus {@code reason} (NULL when valid, else the dead-letter reason).
 *
 * <p>Why: in Python, decoding was one interpreter call per event and the largest single cost of the job. The
 * rules and reason strings are those of {@code hybridrec/events.py} (checked in the same order); the unit test
 * {@code tests/unit/streaming/test_proto_decode.py} holds the two equal over a malformed corpus. The wire
 * format is parsed by hand (no generated Java classes): unknown fields are skipped, the last occurrence of a
 * field wins, strings must be valid UTF-8, as in the protobuf runtime Python uses.
 */
@FunctionHint(output = @DataTypeHint(
    "ROW<event_id STRING, user_id STRING, item_id STRING, event_type STRING, event_type_num INT, "
        + "`value` DOUBLE, event_time_ms BIGINT, surface STRING, `position` INT, request_id STRING, "
        + "`variant` STRING, device STRING, country STRING, reason STRING, detail STRING, checked_at_ms BIGINT, "
        + "sha256 STRING, payload_size INT>"))
public class ProtoDecode extends TableFunction<Row> {
    static final String[] EVENT_TYPES = {
        "EVENT_TYPE_UNSPECIFIED", "IMPRESSION", "PLAY", "CLICK", "RATING", "ADD_TO_LIST", "THUMBS", "HIDE"};
    static final String[] DEVICES = {"DEVICE_UNSPECIFIED", "TV", "WEB", "MOBILE", "TABLET", "CONSOLE"};

    /** The decoded fields (proto3 defaults when absent). */
    static final class Event {
        String eventId = "";
        String userId = "";
        String itemId = "";
        int eventType;
        double value;
        long eventTimeMs;
        String surface = "";
        int position;
        String requestId = "";
        String variant = "";
        int device;
        String country = "";
    }

    static final class Undecodable extends Exception {
        Undecodable(String message) {
            super(message, null, false, false);
        }
    }

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
        Event e = new Event();
        String[] why = check(key, payload, e, maxPayloadBytes, maxIdLength, minEventTimeMs, maxFutureSkewMs, now);
        if (why == null) {
            if (valid != null) {
                valid.inc();
            }
            collect(Row.of(e.eventId, e.userId, e.itemId, EVENT_TYPES[e.eventType], e.eventType, e.value,
                e.eventTimeMs, e.surface, e.position, e.requestId, e.variant, DEVICES[e.device], e.country,
                null, null, now, null, null));
        } else {
            if (rejected != null) {
                rejected.inc();
            }
            collect(Row.of(null, null, null, null, null, null, null, null, null, null, null, null, null,
                why[0], why[1], now, sha256(payload), payload == null ? 0 : payload.length));
        }
    }

    /** {reason, detail} of a rejected record, or null when valid (then {@code e} holds the event). */
    static String[] check(byte[] key, byte[] payload, Event e, int maxPayloadBytes, int maxIdLength,
                          long minEventTimeMs, long maxFutureSkewMs, long nowMs) {
        if (payload == null) {
            payload = new byte[0];
        }
        if (payload.length > maxPayloadBytes) {
            return new String[] {"oversized_payload", payload.length + " bytes > " + maxPayloadBytes};
        }
        try {
            parse(payload, e);
        } catch (Undecodable ex) {
            return new String[] {"undecodable", ex.getMessage()};
        }
        String reason = validate(e, maxIdLength, minEventTimeMs, maxFutureSkewMs, nowMs);
        if (reason != null) {
            return new String[] {reason, ""};
        }
        if (key != null && !Arrays.equals(key, e.userId.getBytes(StandardCharsets.UTF_8))) {
            return new String[] {"key_not_user_id", "key does not equal user_id"};
        }
        return null;
    }

    static String validate(Event e, int maxIdLength, long minEventTimeMs, long maxFutureSkewMs, long nowMs) {
        if (e.eventId.isEmpty()) {
            return "missing_event_id";
        }
        if (e.userId.isEmpty()) {
            return "missing_user_id";
        }
        if (e.itemId.isEmpty()) {
            return "missing_item_id";
        }
        if (chars(e.eventId) > maxIdLength || chars(e.userId) > maxIdLength || chars(e.itemId) > maxIdLength) {
            return "id_too_long";
        }
        if (e.eventType == 0) {
            return "missing_event_type";
        }
        if (e.eventType < 0 || e.eventType >= EVENT_TYPES.length) {
            return "unknown_event_type";
        }
        if (e.device < 0 || e.device >= DEVICES.length) {
            return "unknown_device";
        }
        if (e.eventTimeMs < minEventTimeMs) {
            return "event_time_too_old";
        }
        if (e.eventTimeMs > nowMs + maxFutureSkewMs) {
            return "event_time_in_future";
        }
        if (Double.isNaN(e.value) || Double.isInfinite(e.value)) {
            return "non_finite_value";
        }
        if (e.eventType == 4 && !(e.value >= 0.5 && e.value <= 5.0)) {
            return "rating_out_of_range";
        }
        if (e.eventType == 6 && e.value != 1.0 && e.value != -1.0) {
            return "thumbs_not_plus_minus_one";
        }
        return null;
    }

    /** Python's len(str) counts code points. */
    private static int chars(String s) {
        return s.codePointCount(0, s.length());
    }

    static void parse(byte[] b, Event e) throws Undecodable {
        int[] pos = {0};
        while (pos[0] < b.length) {
            long tag = varint(b, pos);
            int field = (int) (tag >>> 3);
            int wireType = (int) (tag & 7);
            if (field <= 0 || (tag >>> 3) > 0x1FFFFFFFL) {
                throw new Undecodable("invalid field number");
            }
            switch (wireType) {
                case 0: {
                    long v = varint(b, pos);
                    switch (field) {
                        case 4: e.eventType = (int) v; break;
                        case 6: e.eventTimeMs = v; break;
                        case 8: e.position = (int) v; break;
                        case 11: e.device = (int) v; break;
                        default: break;
                    }
                    break;
                }
                case 1: {
                    need(b, pos[0], 8);
                    if (field == 5) {
                        e.value = Double.longBitsToDouble(ByteBuffer.wrap(b, pos[0], 8)
                            .order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong());
                    }
                    pos[0] += 8;
                    break;
                }
                case 2: {
                    long len = varint(b, pos);
                    if (len < 0 || len > b.length - pos[0]) {
                        throw new Undecodable("truncated length-delimited field");
                    }
                    int start = pos[0];
                    pos[0] += (int) len;
                    switch (field) {
                        case 1: e.eventId = utf8(b, start, (int) len); break;
                        case 2: e.userId = utf8(b, start, (int) len); break;
                        case 3: e.itemId = utf8(b, start, (int) len); break;
                        case 7: e.surface = utf8(b, start, (int) len); break;
                        case 9: e.requestId = utf8(b, start, (int) len); break;
                        case 10: e.variant = utf8(b, start, (int) len); break;
                        case 12: e.country = utf8(b, start, (int) len); break;
                        default: break;
                    }
                    break;
                }
                case 3: skipGroup(b, pos, field, 0); break;
                case 5: need(b, pos[0], 4); pos[0] += 4; break;
                default: throw new Undecodable("invalid wire type " + wireType);
            }
        }
    }

    private static void skipGroup(byte[] b, int[] pos, int field, int depth) throws Undecodable {
        if (depth > 100) {
            throw new Undecodable("groups nested too deep");
        }
        while (pos[0] < b.length) {
            long tag = varint(b, pos);
            int f = (int) (tag >>> 3);
            int wireType = (int) (tag & 7);
            if (f <= 0) {
                throw new Undecodable("invalid field number");
            }
            switch (wireType) {
                case 0: varint(b, pos); break;
                case 1: need(b, pos[0], 8); pos[0] += 8; break;
                case 2: {
                    long len = varint(b, pos);
                    if (len < 0 || len > b.length - pos[0]) {
                        throw new Undecodable("truncated length-delimited field");
                    }
                    pos[0] += (int) len;
                    break;
                }
                case 3: skipGroup(b, pos, f, depth + 1); break;
                case 4:
                    if (f != field) {
                        throw new Undecodable("mismatched end group");
                    }
                    return;
                case 5: need(b, pos[0], 4); pos[0] += 4; break;
                default: throw new Undecodable("invalid wire type " + wireType);
            }
        }
        throw new Undecodable("unterminated group");
    }

    private static void need(byte[] b, int pos, int n) throws Undecodable {
        if (b.length - pos < n) {
            throw new Undecodable("truncated fixed-width field");
        }
    }

    /** A base-128 varint at {@code pos[0]}, advancing it (also the catalog reader's, {@link CatalogGenres}). */
    static long varint(byte[] b, int[] pos) throws Undecodable {
        long result = 0L;
        for (int shift = 0; shift < 70; shift += 7) {
            if (pos[0] >= b.length) {
                throw new Undecodable("truncated varint");
            }
            byte x = b[pos[0]++];
            result |= (long) (x & 0x7F) << shift;
            if ((x & 0x80) == 0) {
                return result;
            }
        }
        throw new Undecodable("varint too long");
    }

    private static String utf8(byte[] b, int start, int len) throws Undecodable {
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        try {
            return decoder.decode(ByteBuffer.wrap(b, start, len)).toString();
        } catch (CharacterCodingException ex) {
            throw new Undecodable("string field is not valid UTF-8");
        }
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

    /**
     * Test entry point: lines {@code <key hex or -> <payload hex> <nowMs>} on stdin, arguments maxPayloadBytes
     * maxIdLength minEventTimeMs maxFutureSkewMs; prints the reason (or {@code valid}) per line.
     */
    public static void main(String[] args) throws Exception {
        int maxPayload = Integer.parseInt(args[0]);
        int maxId = Integer.parseInt(args[1]);
        long minTime = Long.parseLong(args[2]);
        long skew = Long.parseLong(args[3]);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        StringBuilder out = new StringBuilder();
        for (String line; (line = in.readLine()) != null; ) {
            String[] parts = line.split(" ", -1);
            byte[] key = parts[0].equals("-") ? null : hex(parts[0]);
            String[] why = check(key, hex(parts[1]), new Event(), maxPayload, maxId, minTime, skew,
                Long.parseLong(parts[2]));
            out.append(why == null ? "valid" : why[0]).append('\n');
        }
        System.out.print(out);
    }

    private static byte[] hex(String s) {
        byte[] b = new byte[s.length() / 2];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        }
        return b;
    }
}
