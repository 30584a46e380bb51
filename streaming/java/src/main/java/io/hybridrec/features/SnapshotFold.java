package io.hybridrec.features;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The speed layer's fold of one entity, for the batch layer: its training rows get their fresh features from this
 * code, the same {@link EntityState} the job's operator runs, instead of a second implementation in Spark (called
 * from Spark SQL with {@code reflect}, so it takes and returns strings and needs nothing beyond the JDK).
 *
 * <p>Events: one per line, {@code <time_ms> <event id> <item id> <event type number> <genres>}, strings hex-encoded
 * UTF-8, genres (the item's genre names in the catalog) comma-separated. They may come in any order: they are folded
 * in event-time order (tie: event id), as an operator that saw them in order would. Output: after each event, one
 * JSON line {@code {"state_ms":…,"event_id":"…","features":{<field>:<value>,…}}} with the requested fields of the
 * view.
 *
 * <p>There is no watermark here: features that move with it (trending windows) are as of their events' arrival.
 */
public final class SnapshotFold {
    private static final int MAX_CACHED_SPECS = 8;
    private static final Map<String, FreshSpec> SPECS = new ConcurrentHashMap<>();

    private SnapshotFold() {
    }

    /** The JSON lines (newline-separated) of {@code events} folded by view {@code viewName} of the spec. */
    public static String fold(String specText, String viewName, String fieldsCsv, String events) {
        FreshSpec spec = spec(specText);
        FreshSpec.View view = spec.view(viewName);
        String[] names = fieldsCsv.split(",", -1);
        int[] fields = new int[names.length];
        for (int i = 0; i < names.length; i++) {
            fields[i] = view.fieldIndex(names[i]);
            if (fields[i] < 0) {
                throw new IllegalArgumentException("view " + viewName + " has no feature " + names[i]);
            }
        }
        Map<String, List<String>> catalog = new HashMap<>();
        List<Event> ordered = parse(events, catalog);
        Collections.sort(ordered);
        Genres genres = new CatalogVectors(spec, catalog);
        EntityState state = EntityState.create(view, spec.genres.length);
        StringBuilder out = new StringBuilder(ordered.size() * 256);
        for (Event e : ordered) {
            state.accept(view, e, genres, Long.MIN_VALUE);  // in order: never late
            out.append("{\"state_ms\":").append(e.timeMs).append(",\"event_id\":");
            Json.string(out, e.eventId);
            out.append(",\"features\":{");
            for (int i = 0; i < names.length; i++) {
                if (i > 0) {
                    out.append(',');
                }
                Json.string(out, names[i]);
                out.append(':');
                Json.value(out, state.value(view, fields[i]));  // only the asked fields: once per event
            }
            out.append("}}\n");
        }
        return out.toString();
    }

    /** The parsed spec of {@code text}, parsed once per text (Spark calls {@link #fold} once per entity). */
    static FreshSpec spec(String text) {
        FreshSpec spec = SPECS.get(text);
        if (spec == null) {
            spec = FreshSpec.parse(text);
            if (SPECS.size() >= MAX_CACHED_SPECS) {
                SPECS.clear();
            }
            SPECS.put(text, spec);
        }
        return spec;
    }

    private static List<Event> parse(String events, Map<String, List<String>> catalog) {
        List<Event> out = new ArrayList<>();
        for (String line : events.split("\n")) {
            if (line.isEmpty()) {
                continue;
            }
            String[] p = line.split(" ", -1);
            if (p.length != 5) {
                throw new IllegalArgumentException("not <time> <event id> <item> <type> <genres>: " + line);
            }
            String item = FreshSpec.unhex(p[2]);
            out.add(new Event(Long.parseLong(p[0]), FreshSpec.unhex(p[1]), "", item, Integer.parseInt(p[3])));
            if (!catalog.containsKey(item)) {
                List<String> names = new ArrayList<>();
                for (String g : p[4].isEmpty() ? new String[0] : p[4].split(",")) {
                    names.add(FreshSpec.unhex(g));
                }
                catalog.put(item, names);
            }
        }
        return out;
    }

    /** Just enough JSON for the facet types ({@link Aggregation#facet}): numbers, strings and arrays of them. */
    static final class Json {
        private Json() {
        }

        static void value(StringBuilder out, Object v) {
            if (v instanceof Long || v instanceof Integer) {
                out.append(v);
            } else if (v instanceof Double) {
                number(out, (Double) v);
            } else if (v instanceof long[]) {
                out.append('[');
                long[] a = (long[]) v;
                for (int i = 0; i < a.length; i++) {
                    out.append(i > 0 ? "," : "").append(a[i]);
                }
                out.append(']');
            } else if (v instanceof double[]) {
                out.append('[');
                double[] a = (double[]) v;
                for (int i = 0; i < a.length; i++) {
                    if (i > 0) {
                        out.append(',');
                    }
                    number(out, a[i]);
                }
                out.append(']');
            } else if (v instanceof List) {
                out.append('[');
                List<?> a = (List<?>) v;
                for (int i = 0; i < a.size(); i++) {
                    if (i > 0) {
                        out.append(',');
                    }
                    string(out, (String) a.get(i));
                }
                out.append(']');
            } else {
                throw new IllegalArgumentException("no JSON for " + (v == null ? "null" : v.getClass().getName()));
            }
        }

        private static void number(StringBuilder out, double d) {
            if (Double.isNaN(d) || Double.isInfinite(d)) {
                throw new IllegalArgumentException("a feature is " + d + ", which JSON cannot hold");
            }
            out.append(d);  // Double.toString: shortest round-trip form, e.g. 0.25 or 1.0E-5 (valid JSON)
        }

        static void string(StringBuilder out, String s) {
            out.append('"');
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                if (c == '"' || c == '\\') {
                    out.append('\\').append(c);
                } else if (c < 0x20) {
                    out.append(String.format("\\u%04x", (int) c));
                } else {
                    out.append(c);
                }
            }
            out.append('"');
        }
    }
}
