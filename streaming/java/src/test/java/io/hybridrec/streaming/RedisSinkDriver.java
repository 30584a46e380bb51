package io.hybridrec.streaming;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;

/** Runs {@link RedisFeatureSink.Writer} outside Flink for {@code tests/integration/streaming/test_redis_sink.py}. */
public final class RedisSinkDriver {
    private RedisSinkDriver() {
    }

    /**
     * Argument = spec file; each stdin line holds
     * the snapshots {@code <view> <entities> <versions> <payloads>} (strings and bytes hex-encoded, lists
     * comma-separated) of one batch: added, then written to the spec's Redis. Prints the rows written per batch.
     */
    public static void main(String[] args) throws Exception {
        FeatureSpec spec = FeatureSpec.parse(new String(Files.readAllBytes(Paths.get(args[0])), StandardCharsets.UTF_8));
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        try (RedisFeatureSink.Writer writer = new RedisFeatureSink.Writer(spec, RedisFeatureSink.connect(spec))) {
            for (String line; (line = in.readLine()) != null; ) {
                String[] p = line.split(" ", -1);
                String[] entities = p[1].split(",", -1);
                String[] versions = p[2].split(",", -1);
                String[] payloads = p[3].split(",", -1);
                for (int i = 0; i < entities.length; i++) {
                    writer.add(FeatureSpec.unhex(p[0]), FeatureSpec.unhex(entities[i]), Long.parseLong(versions[i]),
                        FeatureSpec.bytes(payloads[i]));
                }
                System.out.println(writer.writePending());
            }
        }
    }

}
