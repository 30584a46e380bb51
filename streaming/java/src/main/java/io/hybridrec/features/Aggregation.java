package io.hybridrec.features;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;
import java.io.Serializable;
import java.util.Arrays;
import java.util.Map;

/**
 * One declared aggregation of a view (a kind of {@code hybridrec/fresh_features.py} with its parameters), run on
 * a per-entity state object it creates. The kinds are a small closed set; each is one subclass here, and a new kind
 * is the only change to fresh features that needs Java.
 *
 * <p>{@link #add} folds one event in. A commutative kind takes events in any order and ends up in the same state
 * (up to floating-point rounding); an order-sensitive one ({@link #commutative} false) must be given events in
 * event-time order, and {@link EntityState} re-folds it from a kept horizon when an event arrives out of order.
 */
public abstract class Aggregation implements Serializable {
    private static final long serialVersionUID = 1L;

    public final String kind;
    /** Stable identity across spec versions (kind and output names): saved state is matched by it. */
    public final String id;
    private final boolean[] types;
    /** The outputs this kind computes, by name (the field names of the Python class), and their Feast dtypes. */
    private final String[] facetNames;
    private final String[] facetDtypes;
    final int[] fieldOfFacet;

    protected Aggregation(String kind, String id, boolean[] types, String[] facetNames, String[] facetDtypes) {
        this.kind = kind;
        this.id = id;
        this.types = types;
        this.facetNames = facetNames;
        this.facetDtypes = facetDtypes;
        this.fieldOfFacet = new int[facetNames.length];
        Arrays.fill(fieldOfFacet, -1);
    }

    void bind(String facet, int field, String dtype) {
        int f = Arrays.asList(facetNames).indexOf(facet);
        if (f < 0) {
            throw new IllegalArgumentException(kind + " has no output " + facet);
        }
        if (!facetDtypes[f].equals(dtype)) {
            throw new IllegalArgumentException(kind + "." + facet + " is " + facetDtypes[f] + ", the view says " + dtype);
        }
        fieldOfFacet[f] = field;
    }

    public final boolean matches(int type) {
        return type >= 0 && type < types.length && types[type];
    }

    /**
     * The per-entity state of one aggregation. It copies and writes itself, and {@link #readState} reads it back by
     * kind alone (no parameter is needed to read one), so saved state can be restored under a changed spec.
     */
    public interface State {
        /** A deep copy (checkpoints copy on write; a re-fold starts from a copy of the horizon). */
        State copy();

        void write(DataOutput out) throws IOException;
    }

    public abstract State create(int nGenres);

    public abstract void add(State state, Event e, Genres genres);

    public boolean commutative() {
        return true;
    }

    /** The value of facet {@code f}: Long, Double, long[], double[] or List of String, as its dtype says. */
    public abstract Object facet(State state, int f);

    /** The event time at which the state changes without an event (when the watermark passes it). */
    public long wakeUpAt(State state) {
        return Long.MAX_VALUE;
    }

    /**
     * How far the state has moved without events (a trending window sliding with the watermark), in
     * [0, {@link #progressSpan}): part of {@link EntityState#progress}; 0 for kinds that only change on events.
     */
    public long progress(State state) {
        return 0L;
    }

    public long progressSpan() {
        return 1L;
    }

    /** Moves the state to watermark {@code watermarkMs}; true when a facet changed. */
    public boolean advanceTo(State state, long watermarkMs) {
        return false;
    }

    /** A state written by {@link State#write} of an aggregation of {@code kind}. */
    static State readState(String kind, DataInput in, int format) throws IOException {
        switch (kind) {
            case LastN.KIND: case DistinctLastN.KIND: return LastN.Newest.read(in);
            case Session.KIND: return Session.SessionState.read(in, format);
            case DecayedGenreSum.KIND: return DecayedGenreSum.SumState.read(in);
            case CountByType.KIND: return CountByType.WindowState.read(in);
            case Last.KIND: return Last.TimeState.read(in);
            case DecayedCount.KIND: return DecayedCount.CountState.read(in);
            case Trending.KIND: return Trending.WindowCounts.read(in);
            default: throw new IOException("saved state of unknown aggregation kind " + kind);
        }
    }

    static Aggregation of(String kind, String id, boolean[] types, Map<String, Long> params, int nEventTypes) {
        switch (kind) {
            case LastN.KIND: return new LastN(id, types, (int) param(params, kind, "n"));
            case DistinctLastN.KIND: return new DistinctLastN(id, types, (int) param(params, kind, "n"));
            case Session.KIND:
                return new Session(id, types, param(params, kind, "gap_ms"), (int) param(params, kind, "max_items"));
            case DecayedGenreSum.KIND: return new DecayedGenreSum(id, types, param(params, kind, "half_life_ms"));
            case CountByType.KIND: return new CountByType(id, types, param(params, kind, "window_ms"), nEventTypes);
            case Last.KIND: return new Last(id, types);
            case DecayedCount.KIND: return new DecayedCount(id, types, param(params, kind, "half_life_ms"));
            case Trending.KIND:
                return new Trending(id, types, param(params, kind, "window_ms"), param(params, kind, "slide_ms"));
            default: throw new IllegalArgumentException("no Java implementation of aggregation kind " + kind);
        }
    }

    private static long param(Map<String, Long> params, String kind, String name) {
        Long v = params.get(name);
        if (v == null || v < 1) {
            throw new IllegalArgumentException(kind + " needs a positive " + name);
        }
        return v;
    }

    static double decay(long halfLifeMs, long dtMs) {
        return Math.pow(2.0, -(double) dtMs / halfLifeMs);
    }

    // --- state I/O helpers shared by the kinds -----------------------------------------------------------------

    static void writeEvent(DataOutput out, Event e) throws IOException {
        out.writeLong(e.timeMs);
        out.writeUTF(e.eventId);
        out.writeUTF(e.userId);
        out.writeUTF(e.itemId);
        out.writeByte(e.type);
    }

    static Event readEvent(DataInput in) throws IOException {
        return new Event(in.readLong(), in.readUTF(), in.readUTF(), in.readUTF(), in.readByte());
    }

    static void writeDoubles(DataOutput out, double[] v) throws IOException {
        out.writeInt(v.length);
        for (double x : v) {
            out.writeDouble(x);
        }
    }

    static double[] readDoubles(DataInput in) throws IOException {
        double[] v = new double[in.readInt()];
        for (int i = 0; i < v.length; i++) {
            v[i] = in.readDouble();
        }
        return v;
    }
}
