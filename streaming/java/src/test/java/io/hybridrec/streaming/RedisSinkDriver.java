package io.hybridrec.streaming;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;

import io.hybridrec.features.FreshSpec;

/**
 * Runs {@link RedisFeatureSink.Writer} outside Flink for {@code tests/integration/streaming/test_redis_sink.py}.
 * Argument: the spec file. Each stdin line is one batch, {@code <view> <entities> <versions> <payloads>} (strings
 * and bytes hex-encoded, lists comma-separated), added then written; or {@code write} (write what is pending); or
 * {@code pause <ms>}. Prints per batch the rows written (-1: Redis was not reachable, the rows stay pending) and the
 * rows pending.
 */
public final class RedisSinkDriver {
    private RedisSinkDriver() {
    }

    public static void main(String[] args) throws Exception {
        FreshSpec spec = FreshSpec.parse(new String(Files.readAllBytes(Paths.get(args[0])), StandardCharsets.UTF_8));
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        try (RedisFeatureSink.Writer writer = new RedisFeatureSink.Writer(spec, null)) {
            for (String line; (line = in.readLine()) != null; ) {
                String[] p = line.split(" ", -1);
                if (p[0].equals("pause")) {
                    Thread.sleep(Long.parseLong(p[1]));
                    continue;
                }
                if (!p[0].equals("write")) {
                    String[] entities = p[1].split(",", -1);
                    String[] versions = p[2].split(",", -1);
                    String[] payloads = p[3].split(",", -1);
                    for (int i = 0; i < entities.length; i++) {
                        writer.add(FreshSpec.unhex(p[0]), FreshSpec.unhex(entities[i]), Long.parseLong(versions[i]),
                            FreshSpec.bytes(payloads[i]));
                    }
                }
                System.out.println(writer.writePending() + " " + writer.pendingCount);
                System.out.flush();
            }
        }
    }
}
