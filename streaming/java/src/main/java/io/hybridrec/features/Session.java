package io.hybridrec.features;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The current session: the events since the last gap of more than {@code gapMs} between consecutive events; its
 * start, its newest {@code maxItems} items in event order and the mean genre vector of all its items (a sum and a
 * count: bounded whatever the session's length, where the item list alone grew for as long as a user never paused).
 * Order-sensitive: an event arriving late can split or join sessions, so {@link EntityState} re-folds it in
 * event-time order.
 */
final class Session extends Aggregation {
    private static final long serialVersionUID = 1L;
    static final String KIND = "session";
    private static final String[] FACETS = {"start_ms", "item_ids", "genre_mean"};
    private static final String[] DTYPES = {"Int64", "Array(String)", "Array(Float32)"};

    final long gapMs;
    final int maxItems;

    Session(String id, boolean[] types, long gapMs, int maxItems) {
        super(KIND, id, types, FACETS, DTYPES);
        this.gapMs = gapMs;
        this.maxItems = maxItems;
    }

    static final class SessionState implements State {
        long startMs;
        long lastMs;
        long count;  // events in the session; items holds only the newest of them
        final List<String> items;
        final double[] genreSum;

        SessionState(List<String> items, double[] genreSum) {
            this.items = items;
            this.genreSum = genreSum;
        }

        @Override
        public SessionState copy() {
            SessionState c = new SessionState(new ArrayList<>(items), genreSum.clone());
            c.startMs = startMs;
            c.lastMs = lastMs;
            c.count = count;
            return c;
        }

        @Override
        public void write(DataOutput out) throws IOException {
            out.writeLong(startMs);
            out.writeLong(lastMs);
            out.writeLong(count);
            out.writeInt(items.size());
            for (String item : items) {
                out.writeUTF(item);
            }
            writeDoubles(out, genreSum);
        }

        /** Format 1 had no count: its item list was the whole session. */
        static SessionState read(DataInput in, int format) throws IOException {
            long start = in.readLong();
            long last = in.readLong();
            long count = format >= 2 ? in.readLong() : -1;
            int n = in.readInt();
            List<String> items = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                items.add(in.readUTF());
            }
            SessionState s = new SessionState(items, readDoubles(in));
            s.startMs = start;
            s.lastMs = last;
            s.count = count >= 0 ? count : n;
            return s;
        }
    }

    @Override
    public boolean commutative() {
        return false;
    }

    @Override
    public State create(int nGenres) {
        return new SessionState(new ArrayList<>(), new double[nGenres]);
    }

    /** {@code e} is the newest so far. */
    @Override
    public void add(State state, Event e, Genres genres) {
        SessionState s = (SessionState) state;
        if (s.count == 0 || e.timeMs - s.lastMs > gapMs) {
            s.startMs = e.timeMs;
            s.count = 0;
            s.items.clear();
            Arrays.fill(s.genreSum, 0.0);
        }
        s.count++;
        s.items.add(e.itemId);
        if (s.items.size() > maxItems) {
            s.items.subList(0, s.items.size() - maxItems).clear();
        }
        double[] vec = genres.vector(e.itemId);
        for (int g = 0; g < s.genreSum.length; g++) {
            s.genreSum[g] = s.genreSum[g] + vec[g];
        }
        s.lastMs = e.timeMs;
    }

    @Override
    public Object facet(State state, int f) {
        SessionState s = (SessionState) state;
        switch (f) {
            case 0: return s.count == 0 ? 0L : s.startMs;
            case 1: return s.items.size() > maxItems ? s.items.subList(s.items.size() - maxItems, s.items.size())
                : s.items;  // a state saved before the cap may hold more
            default: {
                double[] mean = new double[s.genreSum.length];
                if (s.count > 0) {
                    for (int g = 0; g < mean.length; g++) {
                        mean[g] = s.genreSum[g] / s.count;
                    }
                }
                return mean;
            }
        }
    }
}
