package io.hybridrec.streaming;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;

import io.hybridrec.features.FreshSpec;

/**
 * Runs {@link ProtoDecode#check} outside Flink for {@code tests/unit/streaming/test_proto_decode.py}: lines
 * {@code <key hex or -> <payload hex> <nowMs>} on stdin, arguments maxPayloadBytes maxIdLength minEventTimeMs
 * maxFutureSkewMs; prints the reason (or {@code valid}) per line.
 */
public final class ProtoDecodeDriver {
    private ProtoDecodeDriver() {
    }

    public static void main(String[] args) throws Exception {
        int maxPayload = Integer.parseInt(args[0]);
        int maxId = Integer.parseInt(args[1]);
        long minTime = Long.parseLong(args[2]);
        long skew = Long.parseLong(args[3]);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        StringBuilder out = new StringBuilder();
        for (String line; (line = in.readLine()) != null; ) {
            String[] parts = line.split(" ", -1);
            byte[] key = parts[0].equals("-") ? null : FreshSpec.bytes(parts[0]);
            ProtoDecode.Decoded d = ProtoDecode.check(key, FreshSpec.bytes(parts[1]), maxPayload, maxId, minTime,
                skew, Long.parseLong(parts[2]));
            out.append(d.reason == null ? "valid" : d.reason).append('\n');
        }
        System.out.print(out);
    }
}
