package io.hybridrec.features;

import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads the per-entity state of the job before fresh features were declared in Python (one byte array per key,
 * tag 1 for a user, 2 for an item: the format of the micro-window operator) into an {@link EntityState} of the
 * current spec, matching the old features by their names. What the old state did not keep is approximated and
 * documented here: raw events (so no out-of-order event older than the restored newest is folded in), hide times
 * (hidden items keep their order), event ids (empty) and the trending window's buckets (its count sits in the
 * newest bucket). Aggregations the old job did not have start empty.
 */
public final class LegacyState {
    private static final byte USER_TAG = 1;
    private static final byte ITEM_TAG = 2;

    private LegacyState() {
    }

    public static EntityState read(byte[] b, FreshSpec.View view, int nGenres) {
        try {
            ByteBuffer in = ByteBuffer.wrap(b);
            byte tag = in.get();
            if (tag == USER_TAG) {
                return user(in, view, nGenres);
            }
            if (tag == ITEM_TAG) {
                return item(in, view, nGenres);
            }
            throw new IllegalStateException("legacy state tag " + tag);
        } catch (BufferUnderflowException | IllegalArgumentException e) {
            throw new IllegalStateException("corrupt legacy state", e);
        }
    }

    private static EntityState user(ByteBuffer in, FreshSpec.View view, int nGenres) {
        long version = in.getLong();
        List<String> recent = strings(in);
        long[] recentTimes = new long[recent.size()];
        for (int i = 0; i < recentTimes.length; i++) {
            recentTimes[i] = in.getLong();
        }
        long sessionStart = in.getLong();
        List<String> session = strings(in);
        double[] sessionSum = doubles(in);
        double[] taste = doubles(in);
        long lastEngagement = in.getLong();
        long lastEvent = in.getLong();
        int n = in.getInt();
        long[] windowTimes = new long[n];
        int[] windowTypes = new int[n];
        for (int i = 0; i < n; i++) {
            windowTimes[i] = in.getLong();
            windowTypes[i] = in.get();
        }
        List<String> hidden = strings(in);

        EntityState s = EntityState.create(view, nGenres);
        s.version = version;
        s.newest = new Event(lastEvent, "", "", "", 0);
        for (int i = 0; i < view.aggregations.length; i++) {
            Aggregation a = view.aggregations[i];
            Aggregation.State st = s.current[i];
            if (a instanceof LastN && outputs(view, a, "recent_items")) {
                LastN.Newest newest = (LastN.Newest) st;
                for (int k = 0; k < recent.size(); k++) {
                    newest.insert(newest.size, new Event(recentTimes[k], "", "", recent.get(k), 0), ((LastN) a).n);
                }
            } else if (a instanceof Session && outputs(view, a, "session_items")) {
                Session.SessionState ss = (Session.SessionState) st;
                ss.items.addAll(session);
                ss.count = session.size();
                System.arraycopy(sessionSum, 0, ss.genreSum, 0, Math.min(sessionSum.length, ss.genreSum.length));
                ss.startMs = sessionStart;
                ss.lastMs = lastEngagement;
                s.horizon[i] = ss.copy();
            } else if (a instanceof DecayedGenreSum && outputs(view, a, "taste_genres") && lastEngagement != 0) {
                DecayedGenreSum.SumState sum = (DecayedGenreSum.SumState) st;
                System.arraycopy(taste, 0, sum.sum, 0, Math.min(taste.length, sum.sum.length));
                sum.atMs = lastEngagement;
            } else if (a instanceof CountByType && (outputs(view, a, "counts_1h") || outputs(view, a, "counts_1d"))) {
                for (int k = 0; k < n; k++) {
                    a.add(st, new Event(windowTimes[k], "", "", "", windowTypes[k]), null);
                }
            } else if (a instanceof Last && outputs(view, a, "last_event_ms")) {
                ((Last.TimeState) st).timeMs = lastEvent;
            } else if (a instanceof DistinctLastN && outputs(view, a, "hidden_items")) {
                LastN.Newest newest = (LastN.Newest) st;
                for (int k = 0; k < hidden.size(); k++) {
                    newest.insert(newest.size, new Event(lastEvent - k, "", "", hidden.get(k), 0),
                        ((DistinctLastN) a).n);
                }
            }
        }
        if (s.buffer != null) {
            s.horizonKey = s.newest;
        }
        return s;
    }

    private static EntityState item(ByteBuffer in, FreshSpec.View view, int nGenres) {
        long version = in.getLong();
        double popularity = in.getDouble();
        long lastEvent = in.getLong();
        long trending = in.getLong();
        long trendingEnd = in.getLong();
        EntityState s = EntityState.create(view, nGenres);
        s.version = version;
        s.newest = new Event(lastEvent, "", "", "", 0);
        for (int i = 0; i < view.aggregations.length; i++) {
            Aggregation a = view.aggregations[i];
            if (a instanceof DecayedCount && outputs(view, a, "decayed_popularity")) {
                DecayedCount.CountState c = (DecayedCount.CountState) s.current[i];
                c.value = popularity;
                c.atMs = lastEvent;
            } else if (a instanceof Trending && outputs(view, a, "trending_1h") && trendingEnd > 0) {
                Trending t = (Trending) a;
                Trending.WindowCounts w = (Trending.WindowCounts) s.current[i];
                w.newestMs = lastEvent;
                w.endMs = t.end(Math.max(lastEvent, trendingEnd - t.slideMs));
                w.counts[(int) Math.floorMod(Math.floorDiv(w.endMs - t.slideMs, t.slideMs), (long) t.buckets)] =
                    trending;
            } else if (a instanceof Last && outputs(view, a, "last_event_ms")) {
                ((Last.TimeState) s.current[i]).timeMs = lastEvent;
            }
        }
        return s;
    }

    private static boolean outputs(FreshSpec.View view, Aggregation a, String feature) {
        int field = view.fieldIndex(feature);
        for (int f : a.fieldOfFacet) {
            if (f >= 0 && f == field) {
                return true;
            }
        }
        return false;
    }

    private static List<String> strings(ByteBuffer in) {
        int n = in.getInt();
        List<String> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            byte[] b = new byte[in.getInt()];
            in.get(b);
            out.add(new String(b, StandardCharsets.UTF_8));
        }
        return out;
    }

    private static double[] doubles(ByteBuffer in) {
        double[] v = new double[in.getInt()];
        for (int i = 0; i < v.length; i++) {
            v[i] = in.getDouble();
        }
        return v;
    }
}
