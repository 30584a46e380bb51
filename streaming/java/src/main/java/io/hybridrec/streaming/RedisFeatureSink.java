package io.hybridrec.streaming;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.apache.flink.api.common.operators.ProcessingTimeService;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.StatefulSinkWriter;
import org.apache.flink.api.connector.sink2.SupportsWriterState;
import org.apache.flink.api.connector.sink2.WriterInitContext;
import org.apache.flink.core.io.SimpleVersionedSerializer;
import org.apache.flink.metrics.Counter;
import org.apache.flink.types.Row;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.hybridrec.features.FeastEncoding;
import io.hybridrec.features.FreshSpec;
import redis.clients.jedis.DefaultJedisClientConfig;
import redis.clients.jedis.HostAndPort;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.Pipeline;
import redis.clients.jedis.Response;
import redis.clients.jedis.exceptions.JedisException;

/**
 * The online-store writer, chained behind {@link FreshFeatures}: it keeps the newest snapshot of each entity and
 * writes them to Redis in the layout Feast's Redis store reads, with two pipelined round trips per
 * {@code write_batch_size} entities, as Feast's {@code online_write_batch} does: read what is stored, then HSET
 * (and EXPIRE) only the rows strictly newer. Newer means a higher {@code (generation, progress)} (the
 * {@code _progress} field beside Feast's: a function of the entity's state, so the same state replayed after a
 * restore is not newer, and a job started without state is a new generation), or, for a row an older writer left
 * without it, a later {@code _ts}. A written {@code _ts} never goes back either. Replaying snapshots after a restart
 * is a no-op and a write never moves a feature backwards: idempotent, last write wins.
 *
 * <p>When: as soon as the snapshots emitted together (one flush boundary of the feature operator) are in, through a
 * processing-time timer due at once; when {@code write_batch_size} entities wait; before every checkpoint barrier.
 *
 * <p>Redis being away never fails the job, stalls the archive or drops a row: a failed write keeps every pending
 * row, retries with exponential backoff (up to {@code write_retry_max_ms}), and checkpoints carry the pending rows
 * as writer state (so a checkpoint completes and the archive commits while Redis is down, and a restore writes
 * them). Pending rows stay bounded by the number of distinct entities. Only the end of a bounded input waits for
 * Redis, since nothing would write the rows later.
 */
public class RedisFeatureSink implements Sink<Row>, SupportsWriterState<Row, RedisFeatureSink.PendingRows> {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(RedisFeatureSink.class);
    private static final long FIRST_RETRY_MS = 100;

    private final String specText;

    public RedisFeatureSink(String specText) {
        this.specText = specText;
    }

    @Override
    public Writer createWriter(WriterInitContext context) {
        return restoreWriter(context, List.of());
    }

    @Override
    public Writer restoreWriter(WriterInitContext context, Collection<PendingRows> recovered) {
        Writer writer = new Writer(FreshSpec.parse(specText), context.getProcessingTimeService());
        for (PendingRows rows : recovered) {
            for (Snapshot r : rows.rows) {
                writer.add(r.view, r.entity, r.version, r.payload);
            }
        }
        writer.written = context.metricGroup().counter("feature_rows_written");
        writer.failures = context.metricGroup().counter("feature_write_failures");
        context.metricGroup().gauge("event_to_write_lag_ms", () -> writer.lagMs);
        context.metricGroup().gauge("feature_rows_pending", () -> writer.pendingCount);
        return writer;
    }

    @Override
    public SimpleVersionedSerializer<PendingRows> getWriterStateSerializer() {
        return new PendingRowsSerializer();
    }

    /** One snapshot waiting for Redis. */
    static final class Snapshot {
        final String view;
        final String entity;
        long version;
        byte[] payload;

        Snapshot(String view, String entity, long version, byte[] payload) {
            this.view = view;
            this.entity = entity;
            this.version = version;
            this.payload = payload;
        }
    }

    /** The writer state of a checkpoint: every row not yet in Redis. */
    public static final class PendingRows {
        final List<Snapshot> rows;

        PendingRows(List<Snapshot> rows) {
            this.rows = rows;
        }
    }

    /** The writer without Flink around it (the sink test drives it against a real Redis). */
    static final class Writer implements StatefulSinkWriter<Row, PendingRows> {
        private final FreshSpec spec;
        private final Map<String, FreshSpec.View> views = new HashMap<>();
        private final Map<String, Map<String, Snapshot>> pending = new HashMap<>();  // view → entity → newest
        private final ProcessingTimeService time;   // null: no timers (the test driver writes explicitly)
        private Jedis jedis;
        private boolean timerSet;
        private int failuresInRow;
        private long retryAtMs;
        int pendingCount;
        Counter written;
        Counter failures;
        volatile long lagMs;

        Writer(FreshSpec spec, ProcessingTimeService time) {
            this.spec = spec;
            this.time = time;
            for (FreshSpec.View v : spec.views) {
                views.put(v.name, v);
                pending.put(v.name, new HashMap<>());
            }
        }

        /** A SNAPSHOT row of {@link FreshFeatures#outputType}. */
        @Override
        public void write(Row snapshot, Context context) {
            add((String) snapshot.getField(0), (String) snapshot.getField(1), (Long) snapshot.getField(2),
                (byte[]) snapshot.getField(3));
            if (pendingCount >= spec.writeBatchSize && now() >= retryAtMs) {
                writePending();
            }
            scheduleWrite();
        }

        void add(String view, String entity, long version, byte[] payload) {
            Map<String, Snapshot> rows = pending.get(view);
            if (rows == null) {
                throw new IllegalArgumentException("no online-store layout for view " + view);
            }
            Snapshot prev = rows.get(entity);
            if (prev == null) {
                rows.put(entity, new Snapshot(view, entity, version, payload));
                pendingCount++;
            } else if (version >= prev.version) {
                prev.version = version;
                prev.payload = payload;
            }
        }

        private long now() {
            return time != null ? time.getCurrentProcessingTime() : System.currentTimeMillis();
        }

        private void scheduleWrite() {
            if (time == null || timerSet || pendingCount == 0) {
                return;
            }
            timerSet = true;
            time.registerTimer(Math.max(now(), retryAtMs), t -> {
                timerSet = false;
                writePending();
                scheduleWrite();
            });
        }

        /**
         * Writes every pending snapshot; returns the rows actually written (newer than stored), or -1 when Redis
         * could not be reached (then every row stays pending and the next attempt waits out the backoff).
         */
        long writePending() {
            if (pendingCount == 0) {
                return 0;
            }
            long count = 0;
            long newest = Long.MIN_VALUE;
            try {
                if (jedis == null) {
                    jedis = connect(spec);
                }
                for (Map.Entry<String, Map<String, Snapshot>> view : pending.entrySet()) {
                    List<Snapshot> rows = new ArrayList<>(view.getValue().values());
                    for (int start = 0; start < rows.size(); start += spec.writeBatchSize) {
                        count += writeChunk(rows.subList(start, Math.min(rows.size(), start + spec.writeBatchSize)),
                            views.get(view.getKey()));
                    }
                    for (Snapshot p : rows) {
                        newest = Math.max(newest, p.version);
                    }
                }
            } catch (JedisException e) {
                failuresInRow++;
                long backoff = Math.min(spec.writeRetryMaxMs, FIRST_RETRY_MS << Math.min(20, failuresInRow - 1));
                retryAtMs = now() + backoff;
                if (failures != null) {
                    failures.inc();
                }
                LOG.warn("online-store write failed ({} in a row), {} rows kept, retry in {} ms: {}", failuresInRow,
                    pendingCount, backoff, e.toString());
                disconnect();
                return -1;
            }
            for (Map<String, Snapshot> rows : pending.values()) {
                rows.clear();
            }
            pendingCount = 0;
            failuresInRow = 0;
            retryAtMs = 0;
            lagMs = System.currentTimeMillis() - newest;
            if (written != null) {
                written.inc(count);
            }
            return count;
        }

        private long writeChunk(List<Snapshot> chunk, FreshSpec.View view) {
            List<FeastEncoding.Hash> hashes = new ArrayList<>(chunk.size());
            List<Response<List<byte[]>>> stored = new ArrayList<>(chunk.size());
            Pipeline reads = jedis.pipelined();
            for (Snapshot p : chunk) {
                FeastEncoding.Hash h = FeastEncoding.readPayload(p.payload);
                hashes.add(h);
                stored.add(reads.hmget(h.key, view.tsField, view.progressField));
            }
            reads.sync();
            long count = 0;
            Pipeline writes = jedis.pipelined();
            for (int j = 0; j < chunk.size(); j++) {
                FeastEncoding.Hash h = hashes.get(j);
                List<byte[]> old = stored.get(j).get();
                long storedTsNanos = FeastEncoding.timestampNanos(old.get(0));
                if (!newer(h.fields, chunk.get(j).version, view, old.get(1), storedTsNanos)) {
                    continue;
                }
                if (chunk.get(j).version * 1_000_000L <= storedTsNanos) {
                    // newer state stamped no later than the stored row (a restore): _ts still moves forward
                    replaceField(h.fields, view.tsField, FeastEncoding.timestamp(storedTsNanos / 1_000_000L + 1));
                }
                writes.hset(h.key, h.fields);
                if (spec.keyTtlSeconds > 0) {
                    writes.expire(h.key, spec.keyTtlSeconds);
                }
                count++;
            }
            writes.sync();
            return count;
        }

        private static boolean newer(Map<byte[], byte[]> fields, long version, FreshSpec.View view, byte[] storedProgress,
                                     long storedTsNanos) {
            long[] mine = FeastEncoding.parseProgress(field(fields, view.progressField));
            long[] theirs = FeastEncoding.parseProgress(storedProgress);
            if (mine != null && theirs != null) {
                return mine[0] > theirs[0] || (mine[0] == theirs[0] && mine[1] > theirs[1]);
            }
            return version * 1_000_000L > storedTsNanos;
        }

        private static byte[] field(Map<byte[], byte[]> fields, byte[] name) {
            for (Map.Entry<byte[], byte[]> f : fields.entrySet()) {
                if (java.util.Arrays.equals(f.getKey(), name)) {
                    return f.getValue();
                }
            }
            return null;
        }

        private static void replaceField(Map<byte[], byte[]> fields, byte[] name, byte[] value) {
            for (Map.Entry<byte[], byte[]> f : fields.entrySet()) {
                if (java.util.Arrays.equals(f.getKey(), name)) {
                    f.setValue(value);
                    return;
                }
            }
        }

        /** Before every checkpoint barrier (rows still pending go into the checkpoint) and at the end of input. */
        @Override
        public void flush(boolean endOfInput) throws IOException {
            if (now() >= retryAtMs) {
                writePending();
            }
            while (endOfInput && pendingCount > 0) {
                try {
                    Thread.sleep(Math.max(1, retryAtMs - now()));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted with " + pendingCount + " rows not written", e);
                }
                writePending();
            }
        }

        @Override
        public List<PendingRows> snapshotState(long checkpointId) {
            List<Snapshot> rows = new ArrayList<>(pendingCount);
            for (Map<String, Snapshot> view : pending.values()) {
                for (Snapshot s : view.values()) {
                    rows.add(new Snapshot(s.view, s.entity, s.version, s.payload));
                }
            }
            return rows.isEmpty() ? List.of() : List.of(new PendingRows(rows));
        }

        private void disconnect() {
            if (jedis != null) {
                try {
                    jedis.close();
                } catch (RuntimeException ignored) {
                    // the connection is already broken
                }
                jedis = null;
            }
        }

        @Override
        public void close() {
            disconnect();
        }
    }

    static Jedis connect(FreshSpec spec) {
        return new Jedis(new HostAndPort(spec.redisHost, spec.redisPort),
            DefaultJedisClientConfig.builder().database(spec.redisDb).build());
    }

    /** Writer state layout, version 1: count, then view, entity, version, payload per row. */
    static final class PendingRowsSerializer implements SimpleVersionedSerializer<PendingRows> {
        @Override
        public int getVersion() {
            return 1;
        }

        @Override
        public byte[] serialize(PendingRows rows) throws IOException {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            DataOutputStream out = new DataOutputStream(bytes);
            out.writeInt(rows.rows.size());
            for (Snapshot s : rows.rows) {
                out.writeUTF(s.view);
                out.writeUTF(s.entity);
                out.writeLong(s.version);
                out.writeInt(s.payload.length);
                out.write(s.payload);
            }
            out.flush();
            return bytes.toByteArray();
        }

        @Override
        public PendingRows deserialize(int version, byte[] serialized) throws IOException {
            if (version != 1) {
                throw new IOException("pending online-store rows of version " + version + ", this code reads 1");
            }
            DataInputStream in = new DataInputStream(new ByteArrayInputStream(serialized));
            int n = in.readInt();
            List<Snapshot> rows = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                String view = in.readUTF();
                String entity = in.readUTF();
                long v = in.readLong();
                byte[] payload = new byte[in.readInt()];
                in.readFully(payload);
                rows.add(new Snapshot(view, entity, v, payload));
            }
            return new PendingRows(rows);
        }
    }
}
