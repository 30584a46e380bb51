package io.hybridrec.features;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Specs for the JUnit tests: the kinds of the production views with small parameters (the production definitions
 * are Python's; the Python tests run them), a made-up Redis layout and a two-genre axis.
 */
public final class TestSpecs {
    public static final long GAP_MS = 600_000;
    public static final int SESSION_ITEMS = 4;
    public static final long LATENESS_MS = 1_800_000;
    public static final int MAX_BUFFER = 12;
    public static final String ENGAGEMENT = "2,3,4,5,6";
    public static final String EVERY = "1,2,3,4,5,6,7";

    private TestSpecs() {
    }

    static String h(String s) {
        return FreshSpec.hex(s.getBytes(StandardCharsets.UTF_8));
    }

    /** The user view (index 0) and the item view (index 1) with the production feature names. */
    public static String text() {
        List<String> lines = new ArrayList<>(List.of(
            "genres=" + h("Action") + "," + h("Comedy") + "," + h("Other"), "genre_other=" + h("Other"),
            "genre_aliases=" + h("Funny") + ":" + h("Comedy"), "n_event_types=8", "bootstrap_servers=",
            "catalog_topic=" + h("catalog"), "catalog_refresh_ms=60000", "redis_host=" + h("127.0.0.1"),
            "redis_port=1", "redis_db=0", "key_ttl_seconds=0", "write_batch_size=3", "flush_interval_ms=100",
            "write_retry_max_ms=1000", "generation=7", "state_keys=ui"));
        lines.add("view=0 " + h("user_fresh") + " " + LATENESS_MS + " " + MAX_BUFFER + " 0102 " + h("p") + " "
            + h("_ts:user_fresh") + " " + h("_progress:user_fresh"));
        String[][] user = {{"recent_items", "Array(String)"}, {"recent_item_times_ms", "Array(Int64)"},
            {"session_start_ms", "Int64"}, {"session_items", "Array(String)"}, {"session_genres", "Array(Float32)"},
            {"taste_genres", "Array(Float32)"}, {"counts_1h", "Array(Int64)"}, {"last_event_ms", "Int64"},
            {"hidden_items", "Array(String)"}};
        for (String[] f : user) {
            lines.add("field=0 " + h(f[0]) + " " + h(f[1]) + " " + h("hash:" + f[0]));
        }
        lines.add("agg=0 last_n " + ENGAGEMENT + " n:5 item_ids:" + h("recent_items") + ";times_ms:"
            + h("recent_item_times_ms"));
        lines.add("agg=0 session " + ENGAGEMENT + " gap_ms:" + GAP_MS + ";max_items:" + SESSION_ITEMS + " start_ms:" + h("session_start_ms")
            + ";item_ids:" + h("session_items") + ";genre_mean:" + h("session_genres"));
        lines.add("agg=0 decayed_genre_sum " + ENGAGEMENT + " half_life_ms:3600000 shares:" + h("taste_genres"));
        lines.add("agg=0 count_by_type " + EVERY + " window_ms:3600000 counts:" + h("counts_1h"));
        lines.add("agg=0 last " + EVERY + "  time_ms:" + h("last_event_ms"));
        lines.add("agg=0 distinct_last_n 7 n:3 item_ids:" + h("hidden_items"));
        lines.add("view=1 " + h("item_fresh") + " " + LATENESS_MS + " " + MAX_BUFFER + " 0304 " + h("p") + " "
            + h("_ts:item_fresh") + " " + h("_progress:item_fresh"));
        String[][] item = {{"trending_1h", "Int64"}, {"trending_window_end_ms", "Int64"},
            {"decayed_popularity", "Float64"}, {"last_event_ms", "Int64"}};
        for (String[] f : item) {
            lines.add("field=1 " + h(f[0]) + " " + h(f[1]) + " " + h("hash:" + f[0]));
        }
        lines.add("agg=1 trending " + ENGAGEMENT + " window_ms:1800000;slide_ms:300000 count:" + h("trending_1h")
            + ";window_end_ms:" + h("trending_window_end_ms"));
        lines.add("agg=1 decayed_count " + ENGAGEMENT + " half_life_ms:1800000 value:" + h("decayed_popularity")
            + ";at_ms:" + h("last_event_ms"));
        return String.join("\n", lines) + "\n";
    }

    public static FreshSpec spec() {
        return FreshSpec.parse(text());
    }

    public static Genres genres(FreshSpec spec) {
        return new CatalogVectors(spec, Map.of("i1", List.of("Action"), "i2", List.of("Funny"),
            "i3", List.of("Action", "Comedy")));
    }
}
