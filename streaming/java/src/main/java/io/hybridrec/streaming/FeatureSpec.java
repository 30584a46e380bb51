package io.hybridrec.streaming;

import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Every knob of {@link EntityFeatures} and {@link RedisFeatureSink}, parsed from the text {@code streaming/java_features.py} builds from
 * {@code StreamingConfig}, {@code hybridrec.contract} and the Feast registry: lines {@code name=value}, lists
 * comma-separated, every string hex-encoded UTF-8 (so no value needs escaping). Nothing here has a default:
 * a missing knob is an error at job start, never a silently different feature.
 */
public final class FeatureSpec implements Serializable {
    private static final long serialVersionUID = 1L;

    /** One feature of a view: its name, Feast dtype and the Redis hash field (murmur3 of view:name). */
    public static final class Field implements Serializable {
        private static final long serialVersionUID = 1L;
        final String name;
        final String dtype;
        final byte[] hash;

        Field(String name, String dtype, byte[] hash) {
            this.name = name;
            this.dtype = dtype;
            this.hash = hash;
        }
    }

    /** Where and how one view's rows go: Feast's Redis key = prefix + le32(len) + entity + suffix. */
    public static final class View implements Serializable {
        private static final long serialVersionUID = 1L;
        final String name;
        final byte[] keyPrefix;
        final byte[] keySuffix;
        final byte[] tsField;
        final Field[] fields;

        View(String name, byte[] keyPrefix, byte[] keySuffix, byte[] tsField, Field[] fields) {
            this.name = name;
            this.keyPrefix = keyPrefix;
            this.keySuffix = keySuffix;
            this.tsField = tsField;
            this.fields = fields;
        }
    }

    final int recentN;
    final int hiddenN;
    final long sessionGapMs;
    final long tasteHalfLifeMs;
    final long popularityHalfLifeMs;
    final long countsShortMs;
    final long countsLongMs;
    final boolean[] engagement;   // by EventType number
    final int hideType;
    final int nEventTypes;
    final String[] genres;        // the genre axis
    final Map<String, String> genreAliases;
    final int otherGenre;
    final String bootstrapServers; // empty: no Kafka (tests give the catalog directly)
    final String catalogTopic;
    final long catalogRefreshMs;
    final View user;
    final View item;
    final String redisHost;        // the online store (RedisFeatureSink)
    final int redisPort;
    final int redisDb;
    final long keyTtlSeconds;     // 0: keys never expire
    final int writeBatchSize;     // entities per pipelined round trip
    final long writeIntervalMs;   // event time between online-store writes

    private FeatureSpec(Map<String, String> kv) {
        recentN = Integer.parseInt(get(kv, "recent_n"));
        hiddenN = Integer.parseInt(get(kv, "hidden_n"));
        sessionGapMs = Long.parseLong(get(kv, "session_gap_ms"));
        tasteHalfLifeMs = Long.parseLong(get(kv, "taste_half_life_ms"));
        popularityHalfLifeMs = Long.parseLong(get(kv, "popularity_half_life_ms"));
        countsShortMs = Long.parseLong(get(kv, "counts_short_ms"));
        countsLongMs = Long.parseLong(get(kv, "counts_long_ms"));
        nEventTypes = Integer.parseInt(get(kv, "n_event_types"));
        hideType = Integer.parseInt(get(kv, "hide_type"));
        engagement = new boolean[nEventTypes];
        for (String t : list(get(kv, "engagement_types"))) {
            engagement[Integer.parseInt(t)] = true;
        }
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
        bootstrapServers = unhex(get(kv, "bootstrap_servers"));
        catalogTopic = unhex(get(kv, "catalog_topic"));
        catalogRefreshMs = Long.parseLong(get(kv, "catalog_refresh_ms"));
        user = view(kv, "user");
        item = view(kv, "item");
        redisHost = unhex(get(kv, "redis_host"));
        redisPort = Integer.parseInt(get(kv, "redis_port"));
        redisDb = Integer.parseInt(get(kv, "redis_db"));
        keyTtlSeconds = Long.parseLong(get(kv, "key_ttl_seconds"));
        writeBatchSize = Integer.parseInt(get(kv, "write_batch_size"));
        writeIntervalMs = Long.parseLong(get(kv, "write_interval_ms"));
    }

    public static FeatureSpec parse(String text) {
        Map<String, String> kv = new HashMap<>();
        for (String line : text.split("\n")) {
            if (line.isEmpty()) {
                continue;
            }
            int eq = line.indexOf('=');
            if (eq < 0) {
                throw new IllegalArgumentException("not name=value: " + line);
            }
            kv.put(line.substring(0, eq), line.substring(eq + 1));
        }
        return new FeatureSpec(kv);
    }

    private static View view(Map<String, String> kv, String prefix) {
        List<Field> fields = new ArrayList<>();
        for (String f : list(get(kv, prefix + "_fields"))) {
            String[] p = f.split(":", -1);
            fields.add(new Field(unhex(p[0]), unhex(p[1]), bytes(p[2])));
        }
        return new View(unhex(get(kv, prefix + "_view")), bytes(get(kv, prefix + "_key_prefix")),
            bytes(get(kv, prefix + "_key_suffix")), bytes(get(kv, prefix + "_ts_field")),
            fields.toArray(new Field[0]));
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

    static byte[] bytes(String hex) {
        byte[] b = new byte[hex.length() / 2];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) Integer.parseInt(hex.substring(2 * i, 2 * i + 2), 16);
        }
        return b;
    }

    static String unhex(String hex) {
        return new String(bytes(hex), StandardCharsets.UTF_8);
    }
}
