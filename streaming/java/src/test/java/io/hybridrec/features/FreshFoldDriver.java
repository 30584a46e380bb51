package io.hybridrec.features;

import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * Runs the fresh-feature core (the {@link EntityState} of every entity, as the job's operator keeps it) outside
 * Flink, for {@code tests/unit/streaming/test_java_features.py}. Argument: the spec file. Stdin lines (strings
 * hex-encoded, lists comma-separated):
 * <ul>
 *   <li>{@code g <item> <genres>}: a catalog entry;</li>
 *   <li>{@code e <view> <entity> <user> <event id> <item> <type> <time>}: an event arriving, folded in at the current
 *       watermark; a late one prints {@code late <view> <entity> <event id> <ms behind>};</li>
 *   <li>{@code w <ms>}: the watermark moves (every state moves on, as the event-time timers would);</li>
 *   <li>{@code s}: every changed entity prints {@code snap <view> <entity> <version> <payload>}.</li>
 * </ul>
 * Every state touched is written and read back through {@link StateCodec} (as a checkpoint restore would).
 */
public final class FreshFoldDriver {
    private FreshFoldDriver() {
    }

    public static void main(String[] args) throws IOException {
        FreshSpec spec = FreshSpec.parse(new String(Files.readAllBytes(Paths.get(args[0])), StandardCharsets.UTF_8));
        Map<String, List<String>> catalog = new HashMap<>();
        Genres genres = new CatalogVectors(spec, catalog);
        Map<String, EntityState> states = new LinkedHashMap<>();
        FeastEncoding.Buf buf = new FeastEncoding.Buf();
        long watermark = Long.MIN_VALUE;
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        StringBuilder out = new StringBuilder();
        for (String line; (line = in.readLine()) != null; ) {
            String[] p = line.split(" ", -1);
            switch (p[0]) {
                case "g":
                    catalog.put(FreshSpec.unhex(p[1]), p[2].isEmpty() ? new ArrayList<>()
                        : new ArrayList<>(Arrays.stream(p[2].split(",")).map(FreshSpec::unhex).collect(Collectors.toList())));
                    break;
                case "e": {
                    FreshSpec.View view = spec.views[Integer.parseInt(p[1])];
                    String key = p[1] + " " + p[2];
                    EntityState s = states.get(key);
                    s = s == null ? EntityState.create(view, spec.genres.length) : roundTrip(s, view, spec);
                    Event e = new Event(Long.parseLong(p[7]), FreshSpec.unhex(p[4]), FreshSpec.unhex(p[3]),
                        FreshSpec.unhex(p[5]), Integer.parseInt(p[6]));
                    long behind = s.accept(view, e, genres, watermark);
                    if (behind >= 0) {
                        out.append("late ").append(p[1]).append(' ').append(p[2]).append(' ').append(p[4])
                            .append(' ').append(behind).append('\n');
                    }
                    states.put(key, s);
                    break;
                }
                case "w":
                    watermark = Long.parseLong(p[1]);
                    for (Map.Entry<String, EntityState> kv : states.entrySet()) {
                        FreshSpec.View view = spec.views[Integer.parseInt(kv.getKey().split(" ")[0])];
                        EntityState s = roundTrip(kv.getValue(), view, spec);
                        s.advanceTo(view, watermark);
                        kv.setValue(s);
                    }
                    break;
                case "s":
                    for (Map.Entry<String, EntityState> kv : states.entrySet()) {
                        EntityState s = kv.getValue();
                        if (!s.dirty) {
                            continue;
                        }
                        String[] k = kv.getKey().split(" ");
                        FreshSpec.View view = spec.views[Integer.parseInt(k[0])];
                        String entity = FreshSpec.unhex(k[1]);
                        long version = s.nextVersion();
                        byte[] payload = FeastEncoding.payload(buf, view, entity, version, spec.generation, s.progress(view),
                            s.values(view));
                        out.append("snap ").append(FreshSpec.hex(view.name.getBytes(StandardCharsets.UTF_8)))
                            .append(' ').append(k[1]).append(' ').append(version).append(' ')
                            .append(FreshSpec.hex(payload)).append('\n');
                    }
                    out.append("end\n");
                    break;
                default:
                    throw new IllegalArgumentException("unknown line " + line);
            }
        }
        System.out.print(out);
    }

    /** Written and read back, and re-shaped to the view, as after a restore. */
    private static EntityState roundTrip(EntityState s, FreshSpec.View view, FreshSpec spec) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        StateCodec.write(s, new DataOutputStream(bytes));
        EntityState back = StateCodec.read(new DataInputStream(new ByteArrayInputStream(bytes.toByteArray())));
        back.conform(view, spec.genres.length);
        return back.copy();
    }
}
