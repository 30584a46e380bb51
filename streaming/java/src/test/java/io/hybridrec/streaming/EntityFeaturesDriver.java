package io.hybridrec.streaming;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.apache.flink.types.Row;

/** Runs {@link EntityFeatures.Folder} outside Flink for {@code tests/unit/streaming/test_java_features.py}. */
public final class EntityFeaturesDriver {
    private EntityFeaturesDriver() {
    }

    /**
     * Argument = spec file; stdin lines, strings
     * hex-encoded, lists comma-separated: {@code g <item> <genres>} (the catalog), then ENTITY_BATCH rows
     * {@code u <user> <end_ms> <times> <ids> <items> <types>} / {@code i <item> <end_ms> <times> <cnt>}. State is
     * stored and reloaded per row as in the job. Prints {@code <view> <entity> <version> <payload hex>}.
     */
    public static void main(String[] args) throws Exception {
        FeatureSpec spec = FeatureSpec.parse(new String(Files.readAllBytes(Paths.get(args[0])), StandardCharsets.UTF_8));
        Map<String, List<String>> catalog = new HashMap<>();
        Map<String, byte[]> states = new HashMap<>();
        EntityFeatures.Folder folder = null;
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        StringBuilder out = new StringBuilder();
        for (String line; (line = in.readLine()) != null; ) {
            String[] p = line.split(" ", -1);
            if (p[0].equals("g")) {
                List<String> gs = new ArrayList<>();
                for (String g : strings(p[2])) {
                    gs.add(g);
                }
                catalog.put(FeatureSpec.unhex(p[1]), gs);
                continue;
            }
            if (folder == null) {
                folder = new EntityFeatures.Folder(spec, new CatalogGenres(spec, catalog));
            }
            String entity = FeatureSpec.unhex(p[1]);
            Long[] times = Arrays.stream(p[3].isEmpty() ? new String[0] : p[3].split(","))
                .map(Long::valueOf).toArray(Long[]::new);
            Row row;
            if (p[0].equals("u")) {
                Integer[] types = Arrays.stream(p[6].split(",")).map(Integer::valueOf).toArray(Integer[]::new);
                row = Row.of("u", entity, Long.valueOf(p[2]), times, strings(p[4]), strings(p[5]), types, -1L);
            } else {
                row = Row.of("i", entity, Long.valueOf(p[2]), times, new String[] {""}, new String[] {""},
                    new Integer[] {0}, Long.valueOf(p[4]));
            }
            String key = p[0] + entity;
            Row snap = folder.fold(row, states.get(key));
            states.put(key, folder.stored);
            out.append(snap.getField(0)).append(' ')
                .append(hex(((String) snap.getField(1)).getBytes(StandardCharsets.UTF_8))).append(' ')
                .append(snap.getField(2)).append(' ').append(hex((byte[]) snap.getField(3))).append('\n');
        }
        System.out.print(out);
    }

    private static String[] strings(String field) {
        if (field.isEmpty()) {
            return new String[0];
        }
        String[] parts = field.split(",", -1);
        for (int i = 0; i < parts.length; i++) {
            parts[i] = FeatureSpec.unhex(parts[i]);
        }
        return parts;
    }

    private static String hex(byte[] b) {
        StringBuilder s = new StringBuilder(2 * b.length);
        for (byte x : b) {
            s.append(Character.forDigit((x >> 4) & 0xF, 16)).append(Character.forDigit(x & 0xF, 16));
        }
        return s.toString();
    }
}
