package io.hybridrec.features;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;

/**
 * Everything kept for one entity (a user, an item) of one view: the state of each aggregation, updated on every
 * event as it arrives, and the version of the last snapshot.
 *
 * <p>Event-time order is kept inside the state. Commutative aggregations take an event in any order. For a view
 * with an order-sensitive aggregation (a session), the state also keeps the raw events of the last
 * {@code allowedLatenessMs} behind the entity's newest (at most {@code maxBuffer}) and those aggregations' state
 * as of just before them (the horizon): an in-order event folds in O(1), an out-of-order one is inserted into the
 * buffer and the order-sensitive aggregations are re-folded from the horizon. An event older than the horizon is
 * late: {@link #accept} refuses it and the entity's features do not change (the caller counts and dead-letters it).
 */
public final class EntityState {
    /** Version of the last snapshot written: max(newest event time, previous + 1), so it only grows. */
    public long version;
    /** Changed since the last snapshot. */
    public boolean dirty;
    /** The event time an event-time timer is registered for (Long.MAX_VALUE: none). */
    public long wakeAtMs = Long.MAX_VALUE;
    /** Events folded in so far (late ones excluded). */
    long accepted;
    Event newest;
    String[] ids;
    Aggregation.State[] current;
    Aggregation.State[] horizon;           // per order-sensitive aggregation (null entries for the others); null: none
    List<Event> buffer;          // events after the horizon, ascending; null for a commutative view
    Event horizonKey;            // the newest event folded into the horizon

    EntityState() {
    }

    public static EntityState create(FreshSpec.View view, int nGenres) {
        EntityState s = new EntityState();
        Aggregation[] aggs = view.aggregations;
        s.ids = new String[aggs.length];
        s.current = new Aggregation.State[aggs.length];
        for (int i = 0; i < aggs.length; i++) {
            s.ids[i] = aggs[i].id;
            s.current[i] = aggs[i].create(nGenres);
        }
        if (view.orderSensitive) {
            s.horizon = new Aggregation.State[aggs.length];
            for (int i = 0; i < aggs.length; i++) {
                s.horizon[i] = aggs[i].commutative() ? null : aggs[i].create(nGenres);
            }
            s.buffer = new ArrayList<>();
        }
        return s;
    }

    public long newestMs() {
        return newest == null ? Long.MIN_VALUE : newest.timeMs;
    }

    /**
     * Folds {@code e} in (then moves time-driven aggregations to {@code watermarkMs}). Returns -1 when accepted,
     * else how many ms the event is behind the entity's newest (it is late and changed nothing).
     */
    public long accept(FreshSpec.View view, Event e, Genres genres, long watermarkMs) {
        if (view.orderSensitive && newest != null && (e.timeMs < newest.timeMs - view.allowedLatenessMs
                || (horizonKey != null && e.compareTo(horizonKey) <= 0))) {
            return Math.max(0L, newest.timeMs - e.timeMs);
        }
        Aggregation[] aggs = view.aggregations;
        boolean inOrder = newest == null || e.compareTo(newest) > 0;
        for (int i = 0; i < aggs.length; i++) {
            if (aggs[i].matches(e.type) && (inOrder || aggs[i].commutative())) {
                aggs[i].add(current[i], e, genres);
            }
        }
        if (buffer != null) {
            if (inOrder) {
                buffer.add(e);
            } else {
                int at = Collections.binarySearch(buffer, e);
                buffer.add(at < 0 ? -at - 1 : at, e);
                refold(aggs, genres);
            }
        }
        if (inOrder) {
            newest = e;
        }
        accepted++;
        if (buffer != null) {
            advanceHorizon(view, genres);
        }
        advanceTo(view, watermarkMs);
        dirty = true;
        return -1L;
    }

    private void refold(Aggregation[] aggs, Genres genres) {
        for (int i = 0; i < aggs.length; i++) {
            if (!aggs[i].commutative()) {
                current[i] = horizon[i].copy();
                for (Event b : buffer) {
                    if (aggs[i].matches(b.type)) {
                        aggs[i].add(current[i], b, genres);
                    }
                }
            }
        }
    }

    private void advanceHorizon(FreshSpec.View view, Genres genres) {
        long oldest = newest.timeMs - view.allowedLatenessMs;
        int drop = 0;
        while (drop < buffer.size() && (buffer.get(drop).timeMs < oldest || buffer.size() - drop > view.maxBuffer)) {
            Event b = buffer.get(drop);
            for (int i = 0; i < view.aggregations.length; i++) {
                Aggregation a = view.aggregations[i];
                if (!a.commutative() && a.matches(b.type)) {
                    a.add(horizon[i], b, genres);
                }
            }
            horizonKey = b;
            drop++;
        }
        if (drop > 0) {
            buffer.subList(0, drop).clear();
        }
    }

    /** Moves time-driven aggregations (trending) to the watermark; true when a feature changed. */
    public boolean advanceTo(FreshSpec.View view, long watermarkMs) {
        boolean changed = false;
        for (int i = 0; i < view.aggregations.length; i++) {
            changed |= view.aggregations[i].advanceTo(current[i], watermarkMs);
        }
        dirty |= changed;
        return changed;
    }

    /** The earliest event time at which a time-driven aggregation wants to move (Long.MAX_VALUE: never). */
    public long wakeUpAt(FreshSpec.View view) {
        long at = Long.MAX_VALUE;
        for (int i = 0; i < view.aggregations.length; i++) {
            at = Math.min(at, view.aggregations[i].wakeUpAt(current[i]));
        }
        return at;
    }

    /** The view's features, in its field order. */
    /** The value of one field of {@code view}, computing only its facet (a fold asked for a few fields). */
    public Object value(FreshSpec.View view, int field) {
        for (int i = 0; i < view.aggregations.length; i++) {
            int[] fieldOfFacet = view.aggregations[i].fieldOfFacet;
            for (int f = 0; f < fieldOfFacet.length; f++) {
                if (fieldOfFacet[f] == field) {
                    return view.aggregations[i].facet(current[i], f);
                }
            }
        }
        throw new IllegalArgumentException("view " + view.name + " has no field " + field);
    }

    public Object[] values(FreshSpec.View view) {
        Object[] out = new Object[view.fields.length];
        for (int i = 0; i < view.aggregations.length; i++) {
            Aggregation a = view.aggregations[i];
            for (int f = 0; f < a.fieldOfFacet.length; f++) {
                if (a.fieldOfFacet[f] >= 0) {
                    out[a.fieldOfFacet[f]] = a.facet(current[i], f);
                }
            }
        }
        return out;
    }

    /**
     * How much the features know: the events folded in, then how far time-driven aggregations moved on (mixed
     * radix, so a new event always counts more than any sliding). It depends on the state alone, not on how events
     * were grouped into snapshots or interleaved across partitions, so the same state replayed after a restore has
     * the same progress and a state that knows more has a higher one: the sink writes a row only when its progress
     * is above the stored one, which makes replays no-ops and never moves a feature backwards.
     */
    public long progress(FreshSpec.View view) {
        long p = accepted;
        for (int i = 0; i < view.aggregations.length; i++) {
            Aggregation a = view.aggregations[i];
            p = p * a.progressSpan() + a.progress(current[i]);
        }
        return p;
    }

    /** Stamps the next snapshot: its version, and clears {@link #dirty}. */
    public long nextVersion() {
        version = Math.max(newestMs(), version + 1);
        dirty = false;
        return version;
    }

    /**
     * Re-shapes a state saved under an older spec to {@code view}'s aggregations, matched by id: an aggregation
     * added since starts empty (it sees events from here on), a removed one is dropped.
     */
    public void conform(FreshSpec.View view, int nGenres) {
        Aggregation[] aggs = view.aggregations;
        boolean same = ids.length == aggs.length && (horizon != null) == view.orderSensitive;
        for (int i = 0; same && i < aggs.length; i++) {
            same = ids[i].equals(aggs[i].id) && (horizon == null || (horizon[i] == null) == aggs[i].commutative());
        }
        if (same) {
            return;
        }
        List<String> old = Arrays.asList(ids);
        Aggregation.State[] cur = new Aggregation.State[aggs.length];
        Aggregation.State[] hor = view.orderSensitive ? new Aggregation.State[aggs.length] : null;
        for (int i = 0; i < aggs.length; i++) {
            int j = old.indexOf(aggs[i].id);
            cur[i] = j >= 0 ? current[j] : aggs[i].create(nGenres);
            if (hor != null && !aggs[i].commutative()) {
                hor[i] = j >= 0 && horizon != null && horizon[j] != null ? horizon[j] : aggs[i].create(nGenres);
            }
        }
        String[] newIds = new String[aggs.length];
        for (int i = 0; i < aggs.length; i++) {
            newIds[i] = aggs[i].id;
        }
        ids = newIds;
        current = cur;
        horizon = hor;
        if (view.orderSensitive && buffer == null) {
            buffer = new ArrayList<>();
        } else if (!view.orderSensitive) {
            buffer = null;
            horizonKey = null;
        }
    }

    /** A deep copy (Flink's heap backend copies a state on write while a checkpoint holds it). */
    public EntityState copy() {
        EntityState c = new EntityState();
        c.version = version;
        c.dirty = dirty;
        c.wakeAtMs = wakeAtMs;
        c.accepted = accepted;
        c.newest = newest;
        c.ids = ids.clone();
        c.current = new Aggregation.State[current.length];
        for (int i = 0; i < current.length; i++) {
            c.current[i] = current[i].copy();
        }
        if (horizon != null) {
            c.horizon = new Aggregation.State[horizon.length];
            for (int i = 0; i < horizon.length; i++) {
                c.horizon[i] = horizon[i] == null ? null : horizon[i].copy();
            }
        }
        c.buffer = buffer == null ? null : new ArrayList<>(buffer);
        c.horizonKey = horizonKey;
        return c;
    }
}
