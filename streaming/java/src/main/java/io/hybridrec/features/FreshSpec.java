package io.hybridrec.features;

import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The fresh features as Python declares them ({@code hybridrec/fresh_features.py}), with Feast's Redis layout of
 * each view and the job's I/O knobs, parsed from the text {@code streaming/java_features.py} builds: lines
 * {@code name=value}; {@code view=}, {@code field=} and {@code agg=} lines repeat; lists are comma-separated and
 * every string is hex-encoded UTF-8 (so nothing needs escaping). Nothing has a default here: a missing knob is an
 * error at job start, never a silently different feature.
 */
public final class FreshSpec implements Serializable {
    private static final long serialVersionUID = 1L;

    /** One stored feature of a view: name, Feast dtype and its Redis hash field (murmur3 of view:name). */
    public static final class Field implements Serializable {
        private static final long serialVersionUID = 1L;
        public final String name;
        public final String dtype;
        public final byte[] hash;

        Field(String name, String dtype, byte[] hash) {
            this.name = name;
            this.dtype = dtype;
            this.hash = hash;
        }
    }

    /** A view: its features, the aggregations that compute them and Feast's Redis layout of its rows. */
    public static final class View implements Serializable {
        private static final long serialVersionUID = 1L;
        public final int index;
        public final String name;
        /** How far an event may be behind the entity's newest and still be folded in (order-sensitive views). */
        public final long allowedLatenessMs;
        /** At most this many raw events are kept for re-folding out-of-order arrivals (order-sensitive views). */
        public final int maxBuffer;
        public final byte[] keyPrefix;   // Feast's key = prefix + le32(len) + entity + suffix
        public final byte[] keySuffix;
        public final byte[] tsField;
        /** The hash field holding {@link EntityState#progress}, beside Feast's (Feast reads only its own). */
        public final byte[] progressField;
        public final Field[] fields;
        public final Aggregation[] aggregations;
        /** Whether any aggregation needs event-time order (then a raw-event buffer is kept). */
        public final boolean orderSensitive;

        View(int index, String name, long allowedLatenessMs, int maxBuffer, byte[] keyPrefix, byte[] keySuffix,
             byte[] tsField, byte[] progressField, Field[] fields, Aggregation[] aggregations) {
            this.index = index;
            this.name = name;
            this.allowedLatenessMs = allowedLatenessMs;
            this.maxBuffer = maxBuffer;
            this.keyPrefix = keyPrefix;
            this.keySuffix = keySuffix;
            this.tsField = tsField;
            this.progressField = progressField;
            this.fields = fields;
            this.aggregations = aggregations;
            boolean sensitive = false;
            for (Aggregation a : aggregations) {
                sensitive |= !a.commutative();
            }
            this.orderSensitive = sensitive;
        }

        public int fieldIndex(String feature) {
            for (int i = 0; i < fields.length; i++) {
                if (fields[i].name.equals(feature)) {
                    return i;
                }
            }
            return -1;
        }
    }

    public final String[] genres;
    public final int otherGenre;
    public final Map<String, String> genreAliases;
    public final int nEventTypes;
    public final View[] views;
    public final String bootstrapServers;  // empty: no Kafka (tests give the catalog directly)
    public final String catalogTopic;
    public final long catalogRefreshMs;
    public final String redisHost;
    public final int redisPort;
    public final int redisDb;
    public final long keyTtlSeconds;       // 0: keys never expire
    public final int writeBatchSize;       // entities per pipelined round trip
    public final long flushIntervalMs;     // processing time between a key's change and its snapshot (0: at once)
    public final long writeRetryMaxMs;     // longest wait between two attempts to reach Redis
    /** The job's state generation: new when it starts without state, kept across restores (see the sink). */
    public final long generation;
    /**
     * One char per view (in view order) that starts its entities' keys in the operator's keyed state
     * ({@code state_keys=}; default: the view's index digit). The job gives the tags the operator before this one
     * used, so a restore finds that state under the same keys.
     */
    public final String stateKeys;

    private FreshSpec(Map<String, String> kv, Map<String, List<String>> repeated) {
        List<String> axis = new ArrayList<>();
        for (String g : list(get(kv, "genres"))) {
            axis.add(unhex(g));
        }
        genres = axis.toArray(new String[0]);
        otherGenre = axis.indexOf(unhex(get(kv, "genre_other")));
        if (otherGenre < 0) {
            throw new IllegalArgumentException("genre_other is not on the genre axis");
        }
        genreAliases = new HashMap<>();
        for (String pair : list(get(kv, "genre_aliases"))) {
            String[] p = pair.split(":", -1);
            genreAliases.put(unhex(p[0]), unhex(p[1]));
        }
        nEventTypes = Integer.parseInt(get(kv, "n_event_types"));
        views = parseViews(repeated, nEventTypes);
        bootstrapServers = unhex(get(kv, "bootstrap_servers"));
        catalogTopic = unhex(get(kv, "catalog_topic"));
        catalogRefreshMs = Long.parseLong(get(kv, "catalog_refresh_ms"));
        redisHost = unhex(get(kv, "redis_host"));
        redisPort = Integer.parseInt(get(kv, "redis_port"));
        redisDb = Integer.parseInt(get(kv, "redis_db"));
        keyTtlSeconds = Long.parseLong(get(kv, "key_ttl_seconds"));
        writeBatchSize = Integer.parseInt(get(kv, "write_batch_size"));
        flushIntervalMs = Long.parseLong(get(kv, "flush_interval_ms"));
        writeRetryMaxMs = Long.parseLong(get(kv, "write_retry_max_ms"));
        generation = Long.parseLong(get(kv, "generation"));
        stateKeys = stateKeys(kv.get("state_keys"), views.length);
    }

    public static FreshSpec parse(String text) {
        Map<String, String> kv = new HashMap<>();
        Map<String, List<String>> repeated = new HashMap<>();
        for (String line : text.split("\n")) {
            if (line.isEmpty()) {
                continue;
            }
            int eq = line.indexOf('=');
            if (eq < 0) {
                throw new IllegalArgumentException("not name=value: " + line);
            }
            String name = line.substring(0, eq);
            String value = line.substring(eq + 1);
            if (name.equals("view") || name.equals("field") || name.equals("agg")) {
                repeated.computeIfAbsent(name, k -> new ArrayList<>()).add(value);
            } else {
                kv.put(name, value);
            }
        }
        return new FreshSpec(kv, repeated);
    }

    /**
     * {@code view=<index> <name> <allowed_lateness_ms> <max_buffer> <key_prefix> <key_suffix> <ts_field>
     * <progress_field>};
     * {@code field=<view> <name> <dtype> <hash>} in the Feast view's order;
     * {@code agg=<view> <kind> <event types> <params name:value;…> <outputs facet:feature;…>}.
     */
    private static View[] parseViews(Map<String, List<String>> repeated, int nEventTypes) {
        List<String> viewLines = repeated.getOrDefault("view", List.of());
        if (viewLines.isEmpty()) {
            throw new IllegalArgumentException("feature spec declares no view");
        }
        View[] out = new View[viewLines.size()];
        for (String line : viewLines) {
            String[] p = line.split(" ", -1);
            int index = Integer.parseInt(p[0]);
            List<Field> fields = new ArrayList<>();
            for (String f : repeated.getOrDefault("field", List.of())) {
                String[] q = f.split(" ", -1);
                if (Integer.parseInt(q[0]) == index) {
                    fields.add(new Field(unhex(q[1]), unhex(q[2]), bytes(q[3])));
                }
            }
            Field[] fieldArray = fields.toArray(new Field[0]);
            List<Aggregation> aggs = new ArrayList<>();
            for (String a : repeated.getOrDefault("agg", List.of())) {
                String[] q = a.split(" ", -1);
                if (Integer.parseInt(q[0]) == index) {
                    aggs.add(aggregation(q, fieldArray, nEventTypes));
                }
            }
            String name = unhex(p[1]);
            boolean[] covered = new boolean[fieldArray.length];
            for (Aggregation agg : aggs) {
                for (int f : agg.fieldOfFacet) {
                    if (f >= 0) {
                        covered[f] = true;
                    }
                }
            }
            for (int f = 0; f < covered.length; f++) {
                if (!covered[f]) {
                    throw new IllegalArgumentException("no aggregation computes " + name + ":" + fieldArray[f].name);
                }
            }
            out[index] = new View(index, name, Long.parseLong(p[2]), Integer.parseInt(p[3]), bytes(p[4]),
                bytes(p[5]), bytes(p[6]), bytes(p[7]), fieldArray, aggs.toArray(new Aggregation[0]));
        }
        return out;
    }

    private static Aggregation aggregation(String[] q, Field[] fields, int nEventTypes) {
        String kind = q[1];
        boolean[] types = new boolean[nEventTypes];
        for (String t : list(q[2])) {
            types[Integer.parseInt(t)] = true;
        }
        Map<String, Long> params = new HashMap<>();
        for (String pv : q[3].isEmpty() ? new String[0] : q[3].split(";")) {
            String[] x = pv.split(":", -1);
            params.put(x[0], Long.parseLong(x[1]));
        }
        Map<String, Integer> outputs = new HashMap<>();
        List<String> names = new ArrayList<>();
        for (String fo : q[4].split(";")) {
            String[] x = fo.split(":", -1);
            String feature = unhex(x[1]);
            int at = -1;
            for (int i = 0; i < fields.length; i++) {
                if (fields[i].name.equals(feature)) {
                    at = i;
                }
            }
            if (at < 0) {
                throw new IllegalArgumentException("aggregation output " + feature + " is not a field of its view");
            }
            outputs.put(x[0], at);
            names.add(feature);
        }
        Aggregation agg = Aggregation.of(kind, kind + ":" + String.join(",", names), types, params, nEventTypes);
        for (Map.Entry<String, Integer> o : outputs.entrySet()) {
            agg.bind(o.getKey(), o.getValue(), fields[o.getValue()].dtype);
        }
        return agg;
    }

    /** hybridrec.contract.genre_vector: mass 1 spread over the item's genres (Other when none). */
    public double[] genreVector(List<String> names) {
        double[] vec = new double[genres.length];
        List<Integer> idx = new ArrayList<>();
        for (String g : names) {
            String name = genreAliases.getOrDefault(g, g);
            int i = -1;
            for (int k = 0; k < genres.length; k++) {
                if (genres[k].equals(name)) {
                    i = k;
                    break;
                }
            }
            idx.add(i < 0 ? otherGenre : i);
        }
        if (idx.isEmpty()) {
            idx.add(otherGenre);
        }
        for (int i : idx) {
            vec[i] += 1.0 / idx.size();
        }
        return vec;
    }

    private static String stateKeys(String given, int nViews) {
        if (given == null || given.isEmpty()) {
            StringBuilder digits = new StringBuilder();
            for (int i = 0; i < nViews; i++) {
                digits.append((char) ('0' + i));
            }
            return digits.toString();
        }
        if (given.length() != nViews || given.chars().distinct().count() != nViews) {
            throw new IllegalArgumentException("state_keys needs one distinct char per view: " + given);
        }
        return given;
    }

    /** The view whose entities' state keys start with {@code tag}. */
    public View viewOfStateKey(char tag) {
        int index = stateKeys.indexOf(tag);
        if (index < 0) {
            throw new IllegalArgumentException("no view has state key tag " + tag);
        }
        return views[index];
    }

    public View view(String name) {
        for (View v : views) {
            if (v.name.equals(name)) {
                return v;
            }
        }
        throw new IllegalArgumentException("no view " + name);
    }

    private static String get(Map<String, String> kv, String name) {
        String v = kv.get(name);
        if (v == null) {
            throw new IllegalArgumentException("feature spec lacks " + name);
        }
        return v;
    }

    private static String[] list(String v) {
        return v.isEmpty() ? new String[0] : v.split(",", -1);
    }

    public static byte[] bytes(String hex) {
        byte[] b = new byte[hex.length() / 2];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) Integer.parseInt(hex.substring(2 * i, 2 * i + 2), 16);
        }
        return b;
    }

    public static String unhex(String hex) {
        return new String(bytes(hex), StandardCharsets.UTF_8);
    }

    public static String hex(byte[] b) {
        StringBuilder s = new StringBuilder(2 * b.length);
        for (byte x : b) {
            s.append(Character.forDigit((x >> 4) & 0xF, 16)).append(Character.forDigit(x & 0xF, 16));
        }
        return s.toString();
    }
}
