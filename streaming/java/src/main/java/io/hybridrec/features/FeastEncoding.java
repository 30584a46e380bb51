package io.hybridrec.features;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One snapshot as the Redis hash Feast's Redis online store writes, in the payload format the Redis sink
 * ({@code io.hybridrec.streaming.RedisFeatureSink}) reads back: Python's {@code marshal} encoding of the tuple {@code (redis_key, {field: value
 * bytes})}, a fixed, documented framing that the Python tests load with one {@code marshal.loads} to hold every
 * byte to Feast's own encoding.
 *
 * <p>Redis key, field hashes and the {@code _ts:<view>} field come from the spec (computed in Python with
 * Feast's own helpers); {@code Value} and {@code Timestamp} bytes are the protobuf wire format of Feast's classes; the Python
 * tests compare both with them.
 */
public final class FeastEncoding {
    private FeastEncoding() {
    }

    /** A growable byte buffer (reused per operator: one snapshot is encoded at a time). */
    public static final class Buf {
        byte[] b = new byte[512];
        int n;

        public void reset() {
            n = 0;
        }

        void ensure(int more) {
            if (n + more > b.length) {
                b = Arrays.copyOf(b, Math.max(b.length * 2, n + more));
            }
        }

        void put(int x) {
            ensure(1);
            b[n++] = (byte) x;
        }

        void put(byte[] x) {
            ensure(x.length);
            System.arraycopy(x, 0, b, n, x.length);
            n += x.length;
        }

        void putLe32(int v) {
            ensure(4);
            b[n++] = (byte) v;
            b[n++] = (byte) (v >>> 8);
            b[n++] = (byte) (v >>> 16);
            b[n++] = (byte) (v >>> 24);
        }

        void putLe64(long v) {
            ensure(8);
            for (int i = 0; i < 8; i++) {
                b[n++] = (byte) (v >>> (8 * i));
            }
        }

        void varint(long v) {
            ensure(10);
            while ((v & ~0x7FL) != 0) {
                b[n++] = (byte) ((v & 0x7F) | 0x80);
                v >>>= 7;
            }
            b[n++] = (byte) v;
        }

        public byte[] toArray() {
            return Arrays.copyOf(b, n);
        }
    }

    static int varintSize(long v) {
        int size = 1;
        while ((v & ~0x7FL) != 0) {
            v >>>= 7;
            size++;
        }
        return size;
    }

    public static boolean supported(String dtype) {
        switch (dtype) {
            case "Int64": case "Float64": case "Array(String)": case "Array(Int64)": case "Array(Float64)":
            case "Array(Float32)":
                return true;
            default:
                return false;
        }
    }

    /** The serialized feast.types.Value of {@code v} as the view's dtype declares it. */
    @SuppressWarnings("unchecked")
    public static void value(Buf out, String dtype, Object v) {
        switch (dtype) {
            case "Int64":
                out.put(0x20);
                out.varint((Long) v);
                return;
            case "Float64":
                out.put(0x29);
                out.putLe64(Double.doubleToRawLongBits((Double) v));
                return;
            case "Array(String)": {
                List<String> items = (List<String>) v;
                byte[][] enc = new byte[items.size()][];
                int body = 0;
                for (int i = 0; i < enc.length; i++) {
                    enc[i] = items.get(i).getBytes(StandardCharsets.UTF_8);
                    body += 1 + varintSize(enc[i].length) + enc[i].length;
                }
                out.put(0x62);
                out.varint(body);
                for (byte[] x : enc) {
                    out.put(0x0a);
                    out.varint(x.length);
                    out.put(x);
                }
                return;
            }
            case "Array(Int64)": {
                long[] xs = (long[]) v;
                int packed = 0;
                for (long x : xs) {
                    packed += varintSize(x);
                }
                out.put(0x72);
                if (xs.length == 0) {
                    out.varint(0);
                    return;
                }
                out.varint(1 + varintSize(packed) + packed);
                out.put(0x0a);
                out.varint(packed);
                for (long x : xs) {
                    out.varint(x);
                }
                return;
            }
            case "Array(Float64)": {
                double[] xs = (double[]) v;
                out.put(0x7a);
                lengthPrefixedPacked(out, xs.length * 8, xs.length);
                for (double x : xs) {
                    out.putLe64(Double.doubleToRawLongBits(x));
                }
                return;
            }
            case "Array(Float32)": {
                double[] xs = (double[]) v;
                out.put(0x82);
                out.put(0x01);
                lengthPrefixedPacked(out, xs.length * 4, xs.length);
                for (double x : xs) {
                    out.putLe32(Float.floatToRawIntBits((float) x));
                }
                return;
            }
            default:
                throw new IllegalArgumentException("unsupported feature dtype " + dtype);
        }
    }

    private static void lengthPrefixedPacked(Buf out, int packed, int count) {
        if (count == 0) {
            out.varint(0);
            return;
        }
        out.varint(1 + varintSize(packed) + packed);
        out.put(0x0a);
        out.varint(packed);
    }

    /** google.protobuf.Timestamp of an epoch-ms version (zero fields omitted, as proto3 does). */
    public static byte[] timestamp(long versionMs) {
        Buf b = new Buf();
        long seconds = Math.floorDiv(versionMs, 1000L);
        long nanos = Math.floorMod(versionMs, 1000L) * 1_000_000L;
        if (seconds != 0) {
            b.put(0x08);
            b.varint(seconds);
        }
        if (nanos != 0) {
            b.put(0x10);
            b.varint(nanos);
        }
        return b.toArray();
    }

    /** Feast's Redis key of a string entity: serialized entity key (v3) + project, prefix/suffix from the spec. */
    public static byte[] redisKey(FreshSpec.View view, String entity) {
        byte[] e = entity.getBytes(StandardCharsets.UTF_8);
        Buf b = new Buf();
        b.put(view.keyPrefix);
        b.putLe32(e.length);
        b.put(e);
        b.put(view.keySuffix);
        return b.toArray();
    }

    /** google.protobuf.Timestamp bytes (the stored {@code _ts} field; null or empty: never written) → nanoseconds. */
    public static long timestampNanos(byte[] raw) {
        long seconds = 0;
        long nanos = 0;
        int i = 0;
        while (raw != null && i < raw.length) {
            int tag = raw[i++] & 0xFF;
            long v = 0;
            for (int shift = 0; ; shift += 7) {
                byte b = raw[i++];
                v |= (long) (b & 0x7F) << shift;
                if (b >= 0) {
                    break;
                }
            }
            if (tag == 0x08) {
                seconds = v;
            } else if (tag == 0x10) {
                nanos = v;
            } else {
                throw new IllegalArgumentException("not a google.protobuf.Timestamp: tag " + tag);
            }
        }
        return seconds * 1_000_000_000L + nanos;
    }

    public static byte[] progressValue(long generation, long progress) {
        return (generation + ":" + progress).getBytes(StandardCharsets.US_ASCII);
    }

    /** {generation, progress} of a stored {@code _progress} value; null when absent (a row of an older writer). */
    public static long[] parseProgress(byte[] raw) {
        if (raw == null) {
            return null;
        }
        String s = new String(raw, StandardCharsets.US_ASCII);
        int colon = s.indexOf(':');
        return new long[] {Long.parseLong(s.substring(0, colon)), Long.parseLong(s.substring(colon + 1))};
    }

    /** A snapshot as Redis takes it: the key and its hash fields. */
    public static final class Hash {
        public final byte[] key;
        public final Map<byte[], byte[]> fields;

        Hash(byte[] key, Map<byte[], byte[]> fields) {
            this.key = key;
            this.fields = fields;
        }
    }

    /** The inverse of {@link #payload}: exactly the subset of marshal it writes. */
    public static Hash readPayload(byte[] p) {
        int[] at = {0};
        if (p[at[0]++] != ')' || p[at[0]++] != 2) {
            throw new IllegalArgumentException("not a snapshot payload");
        }
        byte[] key = marshalBytes(p, at);
        if (p[at[0]++] != '{') {
            throw new IllegalArgumentException("snapshot payload without its hash");
        }
        Map<byte[], byte[]> fields = new LinkedHashMap<>();
        while (p[at[0]] != '0') {
            byte[] field = marshalBytes(p, at);
            fields.put(field, marshalBytes(p, at));
        }
        return new Hash(key, fields);
    }

    private static byte[] marshalBytes(byte[] p, int[] at) {
        if (p[at[0]] != 's') {
            throw new IllegalArgumentException("snapshot payload: bytes expected at " + at[0]);
        }
        int i = at[0] + 1;
        int len = (p[i] & 0xFF) | (p[i + 1] & 0xFF) << 8 | (p[i + 2] & 0xFF) << 16 | (p[i + 3] & 0xFF) << 24;
        at[0] = i + 4 + len;
        return Arrays.copyOfRange(p, i + 4, i + 4 + len);
    }

    // Python marshal (format 2+; every version loads it): small tuple, bytes, dict terminated by NULL.
    static void marshalBytesHeader(Buf out, int length) {
        out.put('s');
        out.putLe32(length);
    }

    /**
     * The view's features of one snapshot as {@code marshal((key, {_ts: bytes, _progress: bytes, field: bytes}))};
     * {@code _progress} is {@code <generation>:<progress>} in decimal ({@link EntityState#progress}, the sink's
     * check that makes replays no-ops).
     */
    public static byte[] payload(Buf out, FreshSpec.View view, String entity, long versionMs, long generation,
                                 long progress, Object[] values) {
        out.reset();
        out.put(')');
        out.put(2);
        byte[] key = redisKey(view, entity);
        marshalBytesHeader(out, key.length);
        out.put(key);
        out.put('{');
        byte[] ts = timestamp(versionMs);
        marshalBytesHeader(out, view.tsField.length);
        out.put(view.tsField);
        marshalBytesHeader(out, ts.length);
        out.put(ts);
        byte[] p = progressValue(generation, progress);
        marshalBytesHeader(out, view.progressField.length);
        out.put(view.progressField);
        marshalBytesHeader(out, p.length);
        out.put(p);
        for (int i = 0; i < view.fields.length; i++) {
            FreshSpec.Field f = view.fields[i];
            marshalBytesHeader(out, f.hash.length);
            out.put(f.hash);
            int lengthAt = out.n;
            marshalBytesHeader(out, 0);
            int start = out.n;
            value(out, f.dtype, values[i]);
            int len = out.n - start;
            out.b[lengthAt + 1] = (byte) len;
            out.b[lengthAt + 2] = (byte) (len >>> 8);
            out.b[lengthAt + 3] = (byte) (len >>> 16);
            out.b[lengthAt + 4] = (byte) (len >>> 24);
        }
        out.put('0');
        return out.toArray();
    }
}
