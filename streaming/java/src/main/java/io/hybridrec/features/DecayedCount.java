package io.hybridrec.features;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;

/** Σ 2^-(T − t)/half-life over the events and T, the newest event's time (readers decay it further themselves). */
final class DecayedCount extends Aggregation {
    private static final long serialVersionUID = 1L;
    static final String KIND = "decayed_count";
    private static final String[] FACETS = {"value", "at_ms"};
    private static final String[] DTYPES = {"Float64", "Int64"};

    final long halfLifeMs;

    DecayedCount(String id, boolean[] types, long halfLifeMs) {
        super(KIND, id, types, FACETS, DTYPES);
        this.halfLifeMs = halfLifeMs;
    }

    static final class CountState implements State {
        double value;
        long atMs = Long.MIN_VALUE;

        @Override
        public CountState copy() {
            CountState c = new CountState();
            c.value = value;
            c.atMs = atMs;
            return c;
        }

        @Override
        public void write(DataOutput out) throws IOException {
            out.writeDouble(value);
            out.writeLong(atMs);
        }

        static CountState read(DataInput in) throws IOException {
            CountState s = new CountState();
            s.value = in.readDouble();
            s.atMs = in.readLong();
            return s;
        }
    }

    @Override
    public State create(int nGenres) {
        return new CountState();
    }

    @Override
    public void add(State state, Event e, Genres genres) {
        CountState s = (CountState) state;
        if (s.atMs == Long.MIN_VALUE) {
            s.value = 1.0;
            s.atMs = e.timeMs;
        } else if (e.timeMs >= s.atMs) {
            s.value = s.value * decay(halfLifeMs, e.timeMs - s.atMs) + 1.0;
            s.atMs = e.timeMs;
        } else {
            s.value = s.value + decay(halfLifeMs, s.atMs - e.timeMs);
        }
    }

    @Override
    public Object facet(State state, int f) {
        CountState s = (CountState) state;
        if (f == 0) {
            return s.value;
        }
        return s.atMs == Long.MIN_VALUE ? 0L : s.atMs;
    }
}
