package io.hybridrec.features;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;
import java.util.Arrays;

/**
 * Events per type with time in (T − window, T], T = the newest; index = EventType number. Keeps the times and types
 * of the window, oldest first, and the running counts: a newer event evicts what fell out of the window, an older
 * one is inserted in place (or ignored when it is already outside), so any order gives the same counts.
 */
final class CountByType extends Aggregation {
    private static final long serialVersionUID = 1L;
    static final String KIND = "count_by_type";
    private static final String[] FACETS = {"counts"};
    private static final String[] DTYPES = {"Array(Int64)"};

    final long windowMs;
    final int nTypes;

    CountByType(String id, boolean[] types, long windowMs, int nTypes) {
        super(KIND, id, types, FACETS, DTYPES);
        this.windowMs = windowMs;
        this.nTypes = nTypes;
    }

    static final class WindowState implements State {
        long[] times;        // [head, head + size), ascending
        byte[] types;
        int head;
        int size;
        long newestMs = Long.MIN_VALUE;
        long[] counts;

        WindowState(int nTypes, int capacity) {
            counts = new long[nTypes];
            times = new long[Math.max(8, capacity)];
            types = new byte[times.length];
        }

        void evictUpTo(long horizonMs) {
            while (size > 0 && times[head] <= horizonMs) {
                counts[types[head]]--;
                head++;
                size--;
            }
            if (size == 0) {
                head = 0;
            }
        }

        void insert(long t, int type) {
            if (head + size == times.length) {
                int capacity = size < times.length / 2 ? times.length : times.length * 2;
                long[] newTimes = new long[capacity];
                byte[] newTypes = new byte[capacity];
                System.arraycopy(times, head, newTimes, 0, size);
                System.arraycopy(types, head, newTypes, 0, size);
                times = newTimes;
                types = newTypes;
                head = 0;
            }
            int at = head + size;
            while (at > head && times[at - 1] > t) {
                at--;
            }
            System.arraycopy(times, at, times, at + 1, head + size - at);
            System.arraycopy(types, at, types, at + 1, head + size - at);
            times[at] = t;
            types[at] = (byte) type;
            size++;
            counts[type]++;
        }

        @Override
        public WindowState copy() {
            WindowState c = new WindowState(counts.length, size + 8);
            System.arraycopy(times, head, c.times, 0, size);
            System.arraycopy(types, head, c.types, 0, size);
            c.size = size;
            c.newestMs = newestMs;
            c.counts = counts.clone();
            return c;
        }

        @Override
        public void write(DataOutput out) throws IOException {
            out.writeLong(newestMs);
            out.writeInt(counts.length);
            out.writeInt(size);
            for (int i = head; i < head + size; i++) {
                out.writeLong(times[i]);
                out.writeByte(types[i]);
            }
        }

        static WindowState read(DataInput in) throws IOException {
            long newest = in.readLong();
            int nTypes = in.readInt();
            int n = in.readInt();
            WindowState s = new WindowState(nTypes, n + 8);
            for (int i = 0; i < n; i++) {
                s.times[i] = in.readLong();
                s.types[i] = in.readByte();
                s.counts[s.types[i]]++;
            }
            s.size = n;
            s.newestMs = newest;
            return s;
        }
    }

    @Override
    public State create(int nGenres) {
        return new WindowState(nTypes, 8);
    }

    @Override
    public void add(State state, Event e, Genres genres) {
        WindowState s = (WindowState) state;
        if (e.timeMs > s.newestMs) {
            s.newestMs = e.timeMs;
            s.evictUpTo(e.timeMs - windowMs);
        } else if (e.timeMs <= s.newestMs - windowMs) {
            return;
        }
        s.insert(e.timeMs, e.type);
    }

    @Override
    public Object facet(State state, int f) {
        long[] counts = ((WindowState) state).counts;
        return Arrays.copyOf(counts, nTypes);
    }
}
