package io.hybridrec.features;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;

/** T, the time of the newest event (0 without events). */
final class Last extends Aggregation {
    private static final long serialVersionUID = 1L;
    static final String KIND = "last";
    private static final String[] FACETS = {"time_ms"};
    private static final String[] DTYPES = {"Int64"};

    Last(String id, boolean[] types) {
        super(KIND, id, types, FACETS, DTYPES);
    }

    static final class TimeState implements State {
        long timeMs;

        @Override
        public TimeState copy() {
            TimeState c = new TimeState();
            c.timeMs = timeMs;
            return c;
        }

        @Override
        public void write(DataOutput out) throws IOException {
            out.writeLong(timeMs);
        }

        static TimeState read(DataInput in) throws IOException {
            TimeState s = new TimeState();
            s.timeMs = in.readLong();
            return s;
        }
    }

    @Override
    public State create(int nGenres) {
        return new TimeState();
    }

    @Override
    public void add(State state, Event e, Genres genres) {
        TimeState s = (TimeState) state;
        s.timeMs = Math.max(s.timeMs, e.timeMs);
    }

    @Override
    public Object facet(State state, int f) {
        return ((TimeState) state).timeMs;
    }
}
