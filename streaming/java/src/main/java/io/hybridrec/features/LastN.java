package io.hybridrec.features;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** The {@code n} newest events, newest first: their item ids and times. Any arrival order gives the same list. */
final class LastN extends Aggregation {
    private static final long serialVersionUID = 1L;
    static final String KIND = "last_n";
    private static final String[] FACETS = {"item_ids", "times_ms"};
    private static final String[] DTYPES = {"Array(String)", "Array(Int64)"};

    final int n;

    LastN(String id, boolean[] types, int n) {
        super(KIND, id, types, FACETS, DTYPES);
        this.n = n;
    }

    /** Events newest first; also the state of {@link DistinctLastN}. */
    static final class Newest implements State {
        Event[] events;
        int size;

        Newest(int capacity) {
            events = new Event[Math.max(4, capacity)];
        }

        @Override
        public Newest copy() {
            Newest c = new Newest(events.length);
            System.arraycopy(events, 0, c.events, 0, size);
            c.size = size;
            return c;
        }

        /** Index where {@code e} goes to keep newest-first order. */
        int position(Event e) {
            int i = 0;
            while (i < size && events[i].compareTo(e) > 0) {
                i++;
            }
            return i;
        }

        void insert(int at, Event e, int limit) {
            if (at >= limit) {
                return;
            }
            if (size == events.length) {
                events = Arrays.copyOf(events, events.length * 2);
            }
            System.arraycopy(events, at, events, at + 1, size - at);
            events[at] = e;
            if (++size > limit) {
                events[--size] = null;
            }
        }

        void remove(int at) {
            System.arraycopy(events, at + 1, events, at, size - at - 1);
            events[--size] = null;
        }

        List<String> items() {
            List<String> out = new ArrayList<>(size);
            for (int i = 0; i < size; i++) {
                out.add(events[i].itemId);
            }
            return out;
        }

        @Override
        public void write(DataOutput out) throws IOException {
            out.writeInt(size);
            for (int i = 0; i < size; i++) {
                writeEvent(out, events[i]);
            }
        }

        static Newest read(DataInput in) throws IOException {
            int size = in.readInt();
            Newest s = new Newest(size + 1);
            for (int i = 0; i < size; i++) {
                s.events[i] = readEvent(in);
            }
            s.size = size;
            return s;
        }
    }

    @Override
    public State create(int nGenres) {
        return new Newest(Math.min(n + 1, 32));
    }

    @Override
    public void add(State state, Event e, Genres genres) {
        Newest s = (Newest) state;
        s.insert(s.position(e), e, n);
    }

    @Override
    public Object facet(State state, int f) {
        Newest s = (Newest) state;
        if (f == 0) {
            return s.items();
        }
        long[] times = new long[s.size];
        for (int i = 0; i < s.size; i++) {
            times[i] = s.events[i].timeMs;
        }
        return times;
    }
}
